-- Read a workflow's record (conveyor/producing/flows.py).
-- KEYS[1] the workflow's record. Reply: its JSON text, or nil.
return redis.call('GET', KEYS[1])
