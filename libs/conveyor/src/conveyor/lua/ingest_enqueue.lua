-- Enqueue tasks of one queue: Idempotency-Key check, XADDs, read-model records,
-- index trim and the stored response, as one atomic step.
-- KEYS[1] status index, KEYS[2] idempotency key (or the index again when none),
-- KEYS[3] task stream, KEYS[4] timers-in stream, KEYS[4 + i] the record of task i.
-- ARGV[1] now_ms, ARGV[2] retention_ms, ARGV[3] idempotency ttl ms (0: none),
-- ARGV[4] value stored under the key (fingerprint, status, response),
-- ARGV[5] JSON array of tasks: {"f": [field, value, ...], "d": 1 when delayed,
-- "t": the task's JSON (delayed only, for PUT), "r": replayed task id (optional)}.
-- One JSON argument instead of thousands keeps the client's encoding cost low.
-- Returns {1, stored} for a replayed key, else {0}.
local index = KEYS[1]
local idem_ttl = tonumber(ARGV[3])
if idem_ttl > 0 then
  local stored = redis.call('GET', KEYS[2])
  if stored then return {1, stored} end
end
local now = tonumber(ARGV[1])
local retention = tonumber(ARGV[2])
local tasks = cjson.decode(ARGV[5])
local stamp = string.format('%013d', now) .. ':'
local members = {}
for i, task in ipairs(tasks) do
  local key = KEYS[4 + i]
  local fields = task.f
  local f = {}
  for j = 1, #fields, 2 do f[fields[j]] = fields[j + 1] end
  local delayed = task.d == 1
  redis.call('XADD', delayed and KEYS[4] or KEYS[3], '*', unpack(fields))
  local attempt = tonumber(f.attempt or '1')
  redis.call('HSET', key, 'id', f.id, 'type', f.type, 'queue', f.queue,
    'status', delayed and 'scheduled' or 'pending', 'attempt', attempt, 'attempts', 0,
    'subject', f.subject or '', 'origin', f.origin or '', 'created_ms', ARGV[1],
    'order', attempt * 10 + 1)
  if delayed then
    redis.call('HSET', key, 'due_ms', f.due_ms, 'task', task.t)
  end
  if task.r then
    redis.call('HSET', key, 'replay_of', task.r)
  end
  redis.call('PEXPIRE', key, retention)
  members[#members + 1] = 0
  members[#members + 1] = stamp .. f.id
  if #members >= 1000 then  -- one ZADD per 500 tasks (unpack has an argument limit)
    redis.call('ZADD', index, unpack(members))
    members = {}
  end
end
if #members > 0 then redis.call('ZADD', index, unpack(members)) end
-- Members start with the zero-padded creation ms: trimming by that bound keeps memory bounded.
redis.call('ZREMRANGEBYLEX', index, '-', '(' .. string.format('%013d', now - retention))
if idem_ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', idem_ttl)
end
return {0}
