-- Shared by worker_commit.lua and, through timer_changes.lua, the scheduler's scripts:
-- a task's wire fields with a PUT's changes applied (docs/api.md, PUT on a pending task).

-- The fields a PUT may change; '' as a change removes an optional one.
local CHANGEABLE = {'data', 'max_attempts', 'timeout'}

-- ``fields`` without the revision, the changed names and those in ``drop``, then the
-- changes of ``names`` and the new revision.
local function with_changes(fields, changes, names, drop, rev)
  local out = {}
  for j = 1, #fields - 1, 2 do
    local name = fields[j]
    if changes[name] == nil and not drop[name] and name ~= 'revision' then
      out[#out + 1] = name; out[#out + 1] = fields[j + 1]
    end
  end
  for _, name in ipairs(names) do
    local value = changes[name]
    if value and value ~= '' then out[#out + 1] = name; out[#out + 1] = value end
  end
  out[#out + 1] = 'revision'; out[#out + 1] = rev
  return out
end

