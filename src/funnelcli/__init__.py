"""funnelcli: funnel metrics from CRM lead exports, by definitions kept in YAML."""

__version__ = "0.1.0"
