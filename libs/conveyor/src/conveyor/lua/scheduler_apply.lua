-- Apply schedule changes to the store, publish each on the applied stream and XACK it, in one step.
-- KEYS[1] schedule store (hash), KEYS[2] applied stream, KEYS[3] changes stream,
-- KEYS[4] ids owned by the schedules file (set), KEYS[5] id -> ms its timing last changed (hash).
-- ARGV[1] group, then the ops:
--   entry op id definition n applied...   op is 'upsert' or 'delete'
--   entry 'ack'                            acknowledge a change that cannot be applied
-- entry '' marks an op of the schedules file: its upsert makes the file own the id, and its
-- delete applies only while the file still owns the id (the API may have taken it over since
-- the caller read the set). A change from the stream (the API) takes the id from the file.
-- An upsert that changes a stored schedule's timing (cron, timezone, created_at_ms: the @every
-- anchor) records the change's at_ms, so the new timing's instants before it never count.
-- Reply: the number of changes applied.
local function retime(id, definition, fields)
  local old = redis.call('HGET', KEYS[1], id)
  if not old then
    redis.call('HDEL', KEYS[5], id)
    return
  end
  local before, after = cjson.decode(old), cjson.decode(definition)
  if before.cron == after.cron and before.timezone == after.timezone
      and before.created_at_ms == after.created_at_ms then
    return
  end
  for j = 1, #fields, 2 do
    if fields[j] == 'at_ms' then redis.call('HSET', KEYS[5], id, fields[j + 1]) end
  end
end

local group = ARGV[1]
local i = 2
local applied = 0
while i <= #ARGV do
  local entry, op = ARGV[i], ARGV[i + 1]
  i = i + 2
  if op ~= 'ack' then
    local id, definition = ARGV[i], ARGV[i + 1]
    local n = tonumber(ARGV[i + 2])
    local fields = {}
    for j = 1, n do fields[j] = ARGV[i + 2 + j] end
    i = i + 3 + n
    local from_file = entry == ''
    if not from_file or op == 'upsert' or redis.call('SISMEMBER', KEYS[4], id) == 1 then
      if op == 'upsert' then
        retime(id, definition, fields)
        redis.call('HSET', KEYS[1], id, definition)
      else
        redis.call('HDEL', KEYS[1], id)
        redis.call('HDEL', KEYS[5], id)
      end
      if from_file and op == 'upsert' then
        redis.call('SADD', KEYS[4], id)
      else
        redis.call('SREM', KEYS[4], id)
      end
      redis.call('XADD', KEYS[2], '*', unpack(fields))
      applied = applied + 1
    end
  end
  if entry ~= '' then redis.call('XACK', KEYS[3], group, entry) end
end
return applied
