"""Background work through procrastinate, with its tables in the key_server schema.

Jobs are deferred by SQL in the same transaction as the state change that
causes them (`repository.defer`): a committed "credit owed" or "callback
pending" always has its job, and a rolled-back one never does.
"""

QUEUE = "key_server"
CREDIT_DEPOSIT = "key_server.credit_deposit"
DELIVER_CALLBACK = "key_server.deliver_callback"
SWEEP = "key_server.sweep"
