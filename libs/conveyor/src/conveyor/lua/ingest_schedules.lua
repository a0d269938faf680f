-- Apply applied-schedule changes to ingest's listing copy and XACK them, atomically.
-- KEYS[1] applied stream, KEYS[2] listing hash. ARGV[1] group, then per change:
-- entry id, op (upsert/delete), schedule id, value (JSON, empty for delete).
for i = 2, #ARGV, 4 do
  if ARGV[i + 1] == 'delete' then
    redis.call('HDEL', KEYS[2], ARGV[i + 2])
  else
    redis.call('HSET', KEYS[2], ARGV[i + 2], ARGV[i + 3])
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
end
return (#ARGV - 1) / 4
