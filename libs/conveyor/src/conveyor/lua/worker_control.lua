-- Record cancellations from the control stream atomically with their XACK, and prune
-- expired cancel marks. KEYS[1] control stream, KEYS[2] cancelled set (score = until ms).
-- ARGV[1] group, ARGV[2] now (ms), then triples: entry id, task id ('' = none), until ms.
for j = 3, #ARGV, 3 do
  if ARGV[j + 1] ~= '' then
    redis.call('ZADD', KEYS[2], 'GT', ARGV[j + 2], ARGV[j + 1])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[j + 2], ARGV[j + 1])
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[j])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
return 0
