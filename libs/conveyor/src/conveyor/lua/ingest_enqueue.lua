-- Enqueue tasks of one queue: Idempotency-Key check, XADDs, accepted records,
-- index entries, index trim and the stored response, as one atomic step.
-- KEYS[1] status index, KEYS[2] idempotency key (or the index again when none),
-- KEYS[3] task stream, KEYS[4] timers-in stream, KEYS[4 + b] accepted bucket b, then the
-- task streams of other priority levels that tasks of this call name by "l".
-- ARGV[1] now_ms, ARGV[2] retention_ms, ARGV[3] idempotency ttl ms (0: none),
-- ARGV[4] value stored under the key (fingerprint, status, response),
-- ARGV[5] JSON array of tasks: {"f": [field, value, ...] in TaskEnvelope.to_fields() order
-- (timer fields after), "b": bucket number b (default 1), "d": 1 when delayed,
-- "r": replayed task id (optional), "l": l-th of the streams after the buckets (optional:
-- a priority level other than normal; default KEYS[3]), "w" and "wr": a workflow's
-- record (below)},
-- ARGV[5 + b] PEXPIRE of bucket b.
-- One JSON argument instead of thousands keeps the client's encoding cost low.
-- A task's record is one field of its bucket (records.py): id -> JSON array
-- [status, created_ms, attempt, type, origin, due_ms, replay_of, traceparent, subject,
-- event_attributes] (the traceparent links a later PUT's span to the task's trace; the last
-- element only when the task has event attributes, i.e. it came from a CloudEvent).
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
local encode = cjson.encode
local members = {}
local records = {}
local buckets = #ARGV - 5  -- one PEXPIRE argument per bucket
for b = 1, buckets do records[b] = {} end
-- to_fields() starts v, id, type, queue, datacontenttype, data, attempt: those are read by
-- position and only the optional rest is scanned (a table of every field cost more per
-- task). Checked for every task before anything is written: the script stays all-or-nothing.
for _, task in ipairs(tasks) do
  local f = task.f
  if f[3] ~= 'id' or f[5] ~= 'type' or f[7] ~= 'queue' or f[13] ~= 'attempt' then
    return redis.error_reply('ERR task fields are not in wire order')
  end
  if not records[task.b or 1] then
    return redis.error_reply('ERR task names no given bucket')
  end
end
-- A workflow's record (conveyor/producing/workflows.py) rides on its first task: "w" names
-- the bucket place that holds the record's key (it gets that place's PEXPIRE below).
if tasks[1] and tasks[1].w then redis.call('SET', KEYS[4 + tasks[1].w], tasks[1].wr) end
local function flush(bucket)
  redis.call('HSET', KEYS[4 + bucket], unpack(records[bucket]))
  records[bucket] = {}
end
for _, task in ipairs(tasks) do
  local fields = task.f
  local delayed = task.d == 1
  local id = fields[4]
  local subject, origin, due, traceparent, attributes = '', '', '', '', nil
  for j = 15, #fields, 2 do
    local name = fields[j]
    if name == 'subject' then subject = fields[j + 1]
    elseif name == 'origin' then origin = fields[j + 1]
    elseif name == 'traceparent' then traceparent = fields[j + 1]
    elseif name == 'due_ms' then due = fields[j + 1]
    elseif name == 'event_attributes' then attributes = fields[j + 1] end
  end
  local stream = KEYS[3]
  if delayed then stream = KEYS[4] elseif task.l then stream = KEYS[4 + buckets + task.l] end
  redis.call('XADD', stream, '*', unpack(fields))
  local bucket = task.b or 1
  local pairs_ = records[bucket]
  pairs_[#pairs_ + 1] = id
  pairs_[#pairs_ + 1] = encode({delayed and 'scheduled' or 'pending', ARGV[1], fields[14],
    fields[6], origin, due, task.r or '', traceparent, subject, attributes})
  if #pairs_ >= 1000 then flush(bucket) end  -- unpack has an argument limit
  members[#members + 1] = 0
  members[#members + 1] = stamp .. id
  if #members >= 1000 then
    redis.call('ZADD', index, unpack(members))
    members = {}
  end
end
if #members > 0 then redis.call('ZADD', index, unpack(members)) end
for b = 1, buckets do
  if #records[b] > 0 then flush(b) end
  redis.call('PEXPIRE', KEYS[4 + b], ARGV[5 + b])
end
-- Members start with the zero-padded creation ms: trimming by that bound keeps memory bounded.
redis.call('ZREMRANGEBYLEX', index, '-', '(' .. string.format('%013d', now - retention))
if idem_ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', idem_ttl)
end
return {0}
