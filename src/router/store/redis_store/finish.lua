-- End of an admission: settle or release it, end it in flight, and feed the cooldown machine.
-- KEYS: log, quota, health, fails, day, days
-- ARGV: id, settle (1 = settle to tokens, 0 = release), tokens, event, probe (1/0), cool_us
--       (how long a 429 cools), cooldown_us, allowed_fails, keep_ms, window_us, record (1/0)
-- event: success | rate_limited | failure | client_error | not_sent
local id, settle, tokens = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local event, probe, cool = ARGV[4], ARGV[5] == '1', tonumber(ARGV[6])
local cooldown, allowed = tonumber(ARGV[7]), tonumber(ARGV[8])
local keep_ms, window, record = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11] == '1'
local now = now_us()

prune(KEYS[1], KEYS[2], now, window)
if redis.call('ZSCORE', KEYS[1], id) then
  local old = tonumber(redis.call('HGET', KEYS[2], id)) or 0
  if settle then
    redis.call('HSET', KEYS[2], id, num(tokens))
    redis.call('HINCRBY', KEYS[2], 't', num(tokens - old))
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HINCRBY', KEYS[2], 't', num(-old))
  end
end
if (tonumber(redis.call('HGET', KEYS[2], 'f')) or 0) > 0 then
  redis.call('HINCRBY', KEYS[2], 'f', -1)
end
-- The day: the admission's minute takes the real tokens (or loses the reservation), if that
-- minute is still in the day.
local admitted = redis.call('HGET', KEYS[5], 'a' .. id)
if admitted then
  local reserved = tonumber(redis.call('HGET', KEYS[5], 'r' .. id)) or 0
  redis.call('HDEL', KEYS[5], 'a' .. id, 'r' .. id)
  local member = 'm' .. admitted
  if redis.call('ZSCORE', KEYS[6], member) then
    local used = 0
    if settle then
      used = tokens
    end
    redis.call('HINCRBY', KEYS[5], member, num(used - reserved))
    redis.call('HINCRBY', KEYS[5], 't', num(used - reserved))
  end
end

if not record then
  return 1
end
if event == 'rate_limited' then
  cool_until(KEYS[3], KEYS[4], now, now + cool, keep_ms)
  return 1
end
local state = redis.call('HGET', KEYS[3], 's')
if not state then
  if event == 'failure' then
    redis.call('ZADD', KEYS[4], num(now), id)
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', num(now - cooldown))
    if redis.call('ZCARD', KEYS[4]) > allowed then
      cool_until(KEYS[3], KEYS[4], now, now + cooldown, keep_ms)
    else
      redis.call('PEXPIRE', KEYS[4], num(math.floor(cooldown / 1000) + keep_ms))
    end
  end
elseif state == 'o' and probe then
  if event == 'success' or event == 'client_error' then
    redis.call('DEL', KEYS[3], KEYS[4])
  elseif event == 'failure' then
    cool_until(KEYS[3], KEYS[4], now, now + cooldown, keep_ms)
  elseif event == 'not_sent' then
    redis.call('HSET', KEYS[3], 'p', '0')
  end
end
-- Otherwise a late outcome of a request admitted before the cooldown: only a 429 counts.
return 1
