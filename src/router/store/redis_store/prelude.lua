-- Shared by every script (prepended to each): the server's clock, integer formatting, the
-- sliding-window log and the cooldown transition. Timestamps are microseconds since the Unix
-- epoch from the server's TIME, so replicas with skewed clocks agree.
--
-- Layout under one hash tag {prefix:kind:id}, so each script touches one cluster slot:
--   :log    ZSET  admission id -> admission instant (us); an entry counts while at > now - window
--   :quota  HASH  admission id -> tokens reserved or used; 't' = sum of them; 'f' = in flight
--   :health HASH  's' = c (cooling down) | o (half-open), absent = healthy; 'u' = until; 'p' = probe out
--   :fails  ZSET  failure id -> instant, recent failures of a healthy deployment
--   :day    HASH  'm<minute>' -> tokens admitted that minute (reservations, then real usage);
--                 't' = their sum over the last 1440 minutes; 'a<id>' / 'r<id>' = an open
--                 admission's minute and reservation (only for deployments with a tpd)
--   :days   ZSET  'm<minute>' -> minute, for dropping the minutes that left the day

local function num(n)
  return string.format('%d', n)
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Drops the admissions that have left the window (at <= now - window) and their tokens.
local function prune(log, quota, now, window)
  local edge = num(now - window)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', edge)
  if #old == 0 then
    return
  end
  local freed = 0
  for first = 1, #old, 500 do
    local chunk = {}
    for i = first, math.min(first + 499, #old) do
      chunk[#chunk + 1] = old[i]
    end
    for _, tokens in ipairs(redis.call('HMGET', quota, unpack(chunk))) do
      if tokens then
        freed = freed + tonumber(tokens)
      end
    end
    redis.call('HDEL', quota, unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', edge)
  redis.call('HINCRBY', quota, 't', num(-freed))
end

-- Cools down until at least `untl` (never shortens a cooldown in progress); forgets failures.
local function cool_until(health, fails, now, untl, keep_ms)
  if redis.call('HGET', health, 's') == 'c' then
    local current = tonumber(redis.call('HGET', health, 'u'))
    if current and current > untl then
      untl = current
    end
  end
  redis.call('HSET', health, 's', 'c', 'u', num(untl), 'p', '0')
  redis.call('DEL', fails)
  redis.call('PEXPIRE', health, num(math.floor((untl - now) / 1000) + keep_ms))
end

-- Drops the minutes that have left the day (minute <= now_minute - 1440) and their tokens.
local function prune_day(day, days, minute)
  local edge = minute - 1440
  local old = redis.call('ZRANGEBYSCORE', days, '-inf', num(edge))
  if #old == 0 then
    return
  end
  local freed = 0
  for _, member in ipairs(old) do
    freed = freed + (tonumber(redis.call('HGET', day, member)) or 0)
    redis.call('HDEL', day, member)
  end
  redis.call('ZREMRANGEBYSCORE', days, '-inf', num(edge))
  redis.call('HINCRBY', day, 't', num(-freed))
end
