-- The state of one deployment or consumer, for routing loads and /health.
-- KEYS: log, quota, health, fails, day, days
-- ARGV: window_us
-- Reply: {now, requests, tokens, in_flight, state ('h'|'c'|'o'), until, probe, day_tokens,
--         failure instants...}
local now = now_us()
prune(KEYS[1], KEYS[2], now, tonumber(ARGV[1]))
prune_day(KEYS[5], KEYS[6], math.floor(now / 60000000))
local q = redis.call('HMGET', KEYS[2], 't', 'f')
local h = redis.call('HMGET', KEYS[3], 's', 'u', 'p')
local reply = {now, redis.call('ZCARD', KEYS[1]), tonumber(q[1]) or 0, tonumber(q[2]) or 0,
  h[1] or 'h', h[2] or '0', h[3] or '0', tonumber(redis.call('HGET', KEYS[5], 't')) or 0}
if not h[1] then
  local fails = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
  for i = 2, #fails, 2 do
    reply[#reply + 1] = fails[i]
  end
end
return reply
