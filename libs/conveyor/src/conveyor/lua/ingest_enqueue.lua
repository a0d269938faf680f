-- Enqueue tasks of one queue: Idempotency-Key check, XADDs, read-model records,
-- index trim and the stored response, as one atomic step.
-- KEYS[1] status index, KEYS[2] idempotency key (or the index again when none),
-- then per task: KEYS[k] destination stream (tasks or timers-in), KEYS[k+1] its record.
-- ARGV[1] now_ms, ARGV[2] retention_ms, ARGV[3] idempotency ttl ms (0: none),
-- ARGV[4] stored value (fingerprint, status, response), then per task:
-- index member, n, n stream fields, m, m record fields.
-- Returns {1, stored} for a replayed key, else {0}.
local index = KEYS[1]
local idem_ttl = tonumber(ARGV[3])
if idem_ttl > 0 then
  local stored = redis.call('GET', KEYS[2])
  if stored then return {1, stored} end
end
local now = tonumber(ARGV[1])
local retention = tonumber(ARGV[2])
local a = 5
for k = 3, #KEYS, 2 do
  local member = ARGV[a]
  local nf = tonumber(ARGV[a + 1])
  local fields = {}
  for i = 1, nf do fields[i] = ARGV[a + 1 + i] end
  a = a + 2 + nf
  local nr = tonumber(ARGV[a])
  local record = {}
  for i = 1, nr do record[i] = ARGV[a + i] end
  a = a + 1 + nr
  local entry = redis.call('XADD', KEYS[k], '*', unpack(fields))
  redis.call('HSET', KEYS[k + 1], 'entry_id', entry, unpack(record))
  redis.call('PEXPIRE', KEYS[k + 1], retention)
  redis.call('ZADD', index, 0, member)
end
-- Members start with the zero-padded creation ms: trimming by that bound keeps memory bounded.
redis.call('ZREMRANGEBYLEX', index, '-', '(' .. string.format('%013d', now - retention))
if idem_ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', idem_ttl)
end
return {0}
