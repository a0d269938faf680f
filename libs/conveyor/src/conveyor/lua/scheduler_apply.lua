-- Apply schedule changes to the store, publish each on the applied stream and XACK it, in one step.
-- KEYS[1] schedule store (hash), KEYS[2] applied stream, KEYS[3] changes stream.
-- ARGV[1] group, then the ops:
--   entry op id definition n applied...   op is 'upsert' or 'delete'; entry '' = not from the stream
--   entry 'ack'                            acknowledge a change that cannot be applied
-- Reply: the number of changes applied.
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
    if op == 'upsert' then
      redis.call('HSET', KEYS[1], id, definition)
    else
      redis.call('HDEL', KEYS[1], id)
    end
    redis.call('XADD', KEYS[2], '*', unpack(fields))
    applied = applied + 1
  end
  if entry ~= '' then redis.call('XACK', KEYS[3], group, entry) end
end
return applied
