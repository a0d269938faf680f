-- Apply applied-schedule changes to ingest's listing copy and XACK them, atomically.
-- KEYS[1] applied stream, KEYS[2] listing hash, KEYS[3] pending hash (id -> seq of the newest
-- API change ingest accepted and wrote to the listing already, ingest_schedule_write.lua).
-- ARGV[1] group, then per change: entry id, op (upsert/delete), schedule id, value (JSON,
-- empty for delete), seq (the change's number, empty for a change of the schedules file).
-- An API change older than the newest accepted one for its id is acknowledged without
-- touching the listing (which shows the newer one); the newest one clears the pending mark.
for i = 2, #ARGV, 5 do
  local id, seq = ARGV[i + 2], tonumber(ARGV[i + 4])
  local pending = tonumber(redis.call('HGET', KEYS[3], id))
  if not (seq and pending and seq < pending) then
    if ARGV[i + 1] == 'delete' then
      redis.call('HDEL', KEYS[2], id)
    else
      redis.call('HSET', KEYS[2], id, ARGV[i + 3])
    end
    if seq and pending then redis.call('HDEL', KEYS[3], id) end
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
end
return (#ARGV - 1) / 5
