-- Accept one schedule change from the API: the existence check, the change's number, the
-- XADD to the changes stream and ingest's listing copy, as one atomic step.
-- KEYS[1] listing hash (id -> definition JSON), KEYS[2] pending hash (id -> seq of the newest
-- accepted change not yet applied back), KEYS[3] seq counter, KEYS[4] changes stream.
-- ARGV[1] op: 'create' (only when absent), 'replace' (only when present and still equal to
-- ARGV[4], the definition the caller based the new one on), 'delete' (only when present);
-- ARGV[2] schedule id, ARGV[3] the new definition JSON ('' for delete), ARGV[4] see above,
-- ARGV[5..] the change's fields (field, value, ...), to which the script adds seq.
-- Reply: {'ok', seq}, {'exists'}, {'missing'} or {'changed'} (replace lost a race: re-read).
local op, id = ARGV[1], ARGV[2]
local current = redis.call('HGET', KEYS[1], id)
if op == 'create' then
  if current then return {'exists'} end
elseif not current then
  return {'missing'}
elseif op == 'replace' and current ~= ARGV[4] then
  return {'changed'}
end
local seq = redis.call('INCR', KEYS[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 'seq'
fields[#fields + 1] = tostring(seq)
redis.call('XADD', KEYS[4], '*', unpack(fields))
if op == 'delete' then
  redis.call('HDEL', KEYS[1], id)
else
  redis.call('HSET', KEYS[1], id, ARGV[3])
end
redis.call('HSET', KEYS[2], id, seq)
return {'ok', seq}
