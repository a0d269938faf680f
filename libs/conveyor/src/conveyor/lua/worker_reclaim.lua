-- Claim entries idle longer than the visibility timeout (their worker died or hung),
-- with each claimed entry's delivery counter, so poison pills can be capped.
-- KEYS[1] tasks stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle (ms),
-- ARGV[4] start id, ARGV[5] count.
-- Reply: {next start id, entries, deleted ids, delivery counts (one per entry)}.
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local entries, counts = r[2], {}
for j, e in ipairs(entries) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
  counts[j] = p[1] and p[1][4] or 0
end
return {r[1], entries, r[3] or {}, counts}
