-- Cools a deployment down for at least a duration from now (never shortens a cooldown).
-- KEYS: health, fails
-- ARGV: duration_us, keep_ms
local now = now_us()
cool_until(KEYS[1], KEYS[2], now, now + tonumber(ARGV[1]), tonumber(ARGV[2]))
return 1
