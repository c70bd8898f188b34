"""The reference definitions of the metrics contract for the other export shapes, verbatim.

Real exports in these shapes check the project: every test that needs one of them imports it
from here, so that they stay one copy of the contract.
"""

REFERENCE_STATUS = """\
version: 1
columns:
  id: Deal - ID
  stage_now: Deal - Stage              # a status column
  state: Deal - Status                 # open / won / lost
  stage_since: Deal - Last stage change
  owner: Deal - Owner
stage_column: stage_now                # a lead reached every stage up to the one this column names
date_format: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']   # tried in order, per value
blank_values: [Select, --None--, N/A]  # read as blank in every column
stages:
  - name: Qualified
    date: Deal - Deal created
  - name: Contact Made                 # status value "Contact Made" (or later)
  - name: Proposal
    values: [Proposal Made, Proposal sent]
  - name: Won
    when: {state: {in: [won]}}
    date: Deal - Won time
exits:
  - name: Lost
    when: {state: {in: [lost]}}
    date: Deal - Lost time
"""

REFERENCE_FLAG = """\
version: 1
columns: {id: Id}
stages:
  - name: Lead                         # every lead
  - name: Converted
    flag: Converted                    # a column of 1/0, true/false, yes/no
"""

REFERENCE_HISTORY = """\
columns: {id: deal_id}
history:
  stage: new_value                     # the column holding the stage entered
  at: change_time                      # when
  only: {changed_field_key: {in: [stage_id]}}   # the rows that are stage changes
stages:
  - name: Lead Generation
    values: ["1"]                      # the log's value for this stage (default: the name)
  - name: Qualified
    values: ["2"]
"""

REFERENCE_JOINS = """\
columns: {id: id, created: created_at, source: source}
joins:
  - name: contacts
    on: {id: lead_id}                  # lead table column: this file's column
    columns: {account_id: account_id}
  - name: opportunities
    on: account_id                     # the same name on both sides (a column an earlier join brought)
    columns: {closed_at: closed_at, is_won: is_won, is_closed: is_closed, amount: amount}
    many: first                        # several rows for one lead: first | last (by order_by) | error (default)
    order_by: closed_at
stages:
  - name: Lead
    date: created_at
  - name: Converted
    date: converted_at
  - name: Won
    flag: is_won
    date: closed_at
exits:
  - name: Lost
    when: {all: [{is_closed: {in: ["TRUE"]}}, {is_won: {in: ["FALSE"]}}]}
    date: closed_at
"""
