-- Replace the run-time limits document: the new version appended to the limits stream,
-- which is both what every replica applies (its last entry) and the audit trail.
-- KEYS[1] the limits stream.
-- ARGV[1] the new document (JSON), ARGV[2] who changed it, ARGV[3] at_ms, ARGV[4] the
-- version the writer read ('' = any), ARGV[5] entries kept (MAXLEN ~).
-- Returns {'ok', version, before} or {'conflict', current version}.
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local version = 0
local before = '{}'
if #last > 0 then
  local fields = last[1][2]
  for j = 1, #fields, 2 do
    if fields[j] == 'version' then version = tonumber(fields[j + 1]) end
    if fields[j] == 'document' then before = fields[j + 1] end
  end
end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then
  return {'conflict', version}
end
version = version + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'v', '1', 'version', version,
  'document', ARGV[1], 'before', before, 'by', ARGV[2], 'at_ms', ARGV[3])
return {'ok', version, before}
