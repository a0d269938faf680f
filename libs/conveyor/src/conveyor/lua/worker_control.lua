-- Record cancels and changes (replaces) from the control stream atomically with their
-- XACK, and prune expired marks. KEYS[1] control stream, KEYS[2] cancelled set (score =
-- until ms), KEYS[3] replaced hash (task id -> '<revision> <changes JSON>').
-- ARGV[1] group, ARGV[2] now (ms), then five tokens per message: entry id, task id
-- ('' = nothing to record), until ms, revision ('' = a cancel), changes JSON.
-- Both marks are members of the cancelled set (so its size alone tells a worker whether a
-- start needs checking); a member with a replaced entry is a change, without one a cancel.
local function mark(task, until_ms)
  redis.call('ZADD', KEYS[2], 'GT', until_ms, task)
  redis.call('ZADD', KEYS[2], 'NX', until_ms, task)
end

for j = 3, #ARGV, 5 do
  local task, until_ms, rev = ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  if task ~= '' and rev == '' then
    mark(task, until_ms)
    redis.call('HDEL', KEYS[3], task)  -- a cancel after a change wins
  elseif task ~= '' then
    local current = redis.call('HGET', KEYS[3], task)
    if not current and redis.call('ZSCORE', KEYS[2], task) then
      -- Cancelled already: a change never revives a cancelled task.
    elseif not current or tonumber(string.match(current, '^%d+')) < tonumber(rev) then
      mark(task, until_ms)
      redis.call('HSET', KEYS[3], task, rev .. ' ' .. ARGV[j + 4])
    end
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[j])
end

local bound = '(' .. ARGV[2]
if redis.call('HLEN', KEYS[3]) > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', bound)
  for k = 1, #expired, 500 do  -- unpack has an argument limit
    redis.call('HDEL', KEYS[3], unpack(expired, k, math.min(k + 499, #expired)))
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', bound)
return 0
