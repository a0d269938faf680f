-- Enqueue tasks of one queue: Idempotency-Key check, XADDs, read-model records,
-- index trim and the stored response, as one atomic step.
-- KEYS[1] status index, KEYS[2] idempotency key (or the index again when none),
-- KEYS[3] task stream, KEYS[4] timers-in stream, KEYS[4 + i] the record of task i.
-- ARGV[1] now_ms, ARGV[2] retention_ms, ARGV[3] idempotency ttl ms (0: none),
-- ARGV[4] value stored under the key (fingerprint, status, response),
-- ARGV[5] JSON array of tasks: {"f": [field, value, ...] in TaskEnvelope.to_fields() order
-- (timer fields after), "d": 1 when delayed,
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
-- to_fields() starts v, id, type, queue, datacontenttype, data, attempt: those are read by
-- position and only the optional rest is scanned (a table of every field cost more per
-- task). Checked for every task before anything is written: the script stays all-or-nothing.
for _, task in ipairs(tasks) do
  local f = task.f
  if f[3] ~= 'id' or f[5] ~= 'type' or f[7] ~= 'queue' or f[13] ~= 'attempt' then
    return redis.error_reply('ERR task fields are not in wire order')
  end
end
for i, task in ipairs(tasks) do
  local key = KEYS[4 + i]
  local fields = task.f
  local delayed = task.d == 1
  local id = fields[4]
  local attempt = tonumber(fields[14])
  local subject, origin, due = '', '', nil
  for j = 15, #fields, 2 do
    local name = fields[j]
    if name == 'subject' then subject = fields[j + 1]
    elseif name == 'origin' then origin = fields[j + 1]
    elseif name == 'due_ms' then due = fields[j + 1] end
  end
  redis.call('XADD', delayed and KEYS[4] or KEYS[3], '*', unpack(fields))
  if delayed then
    redis.call('HSET', key, 'id', id, 'type', fields[6], 'queue', fields[8],
      'status', 'scheduled', 'attempt', attempt, 'attempts', 0,
      'subject', subject, 'origin', origin, 'created_ms', ARGV[1],
      'order', attempt * 10 + 1, 'due_ms', due, 'task', task.t)
  else
    redis.call('HSET', key, 'id', id, 'type', fields[6], 'queue', fields[8],
      'status', 'pending', 'attempt', attempt, 'attempts', 0,
      'subject', subject, 'origin', origin, 'created_ms', ARGV[1],
      'order', attempt * 10 + 1)
  end
  if task.r then
    redis.call('HSET', key, 'replay_of', task.r)
  end
  redis.call('PEXPIRE', key, retention)
  members[#members + 1] = 0
  members[#members + 1] = stamp .. id
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
