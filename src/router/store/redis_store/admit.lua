-- Admission: the cooldown gate, then every limit, then the reservation, all or nothing.
-- KEYS: log, quota, health, day, days
-- ARGV: id, tokens, rpm, tpm, parallel (-1 = unlimited), enforce (1/0), gate (1/0), keep_ms, window_us,
--       tpd (-1 = unlimited), day_keep_ms
-- Replies: {'ok', now, probe, requests, tokens, reset_requests_us, reset_tokens_us} | {'cooling', now, until} | {'probe_in_flight', now}
--        | {'over', now, 'rpm' | 'tpm' | 'tpd', retry_after_us} | {'parallel', now}
-- A refusal by both RPM and TPM names the limit that frees later (RPM on a tie), as
-- UsageWindow::check does; rpm_wait and tpm_wait are UsageWindow's rpm_wait and tpm_wait.
local id, tokens = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, parallel = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local enforce, gate = ARGV[6] == '1', ARGV[7] == '1'
local keep_ms, window = tonumber(ARGV[8]), tonumber(ARGV[9])
local tpd, day_keep_ms = tonumber(ARGV[10]), tonumber(ARGV[11])
local now = now_us()
local minute = math.floor(now / 60000000)

-- How long (us) until `tokens` more fit under `tpd`, the day holding `total`: when the oldest
-- minutes whose departure makes room leave the day (the whole day when they never fit alone).
local function tpd_wait(day, days, now, total, tpd, tokens)
  local whole = 1440 * 60000000
  if tokens > tpd then
    return whole
  end
  local left = total
  local minutes = redis.call('ZRANGE', days, 0, -1, 'WITHSCORES')
  for i = 1, #minutes, 2 do
    left = left - (tonumber(redis.call('HGET', day, minutes[i])) or 0)
    if left + tokens <= tpd then
      return math.max(0, (tonumber(minutes[i + 1]) + 1440) * 60000000 - now)
    end
  end
  return whole
end

-- How long (us) until one more request fits under `rpm`, now that the window holds `count`
-- (0 when one fits now).
local function rpm_wait(log, now, window, count, rpm)
  if rpm < 0 or count < rpm then
    return 0
  end
  local e = redis.call('ZRANGE', log, count - rpm, count - rpm, 'WITHSCORES')
  if #e < 2 then
    return window
  end
  return math.max(0, tonumber(e[2]) + window - now)
end

-- How long (us) until `tokens` more fit under `tpm`, now that the window holds `total`
-- (0 when they fit now; the window length when they never fit alone). Reads the log only near
-- the limit.
local function tpm_wait(log, quota, now, window, total, tpm, tokens)
  if tpm < 0 or total + tokens <= tpm then
    return 0
  end
  if tokens > tpm then
    return window
  end
  local left = total
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    left = left - (tonumber(redis.call('HGET', quota, entries[i])) or 0)
    if left + tokens <= tpm then
      return math.max(0, tonumber(entries[i + 1]) + window - now)
    end
  end
  return window
end

local probe = 0
if gate then
  local h = redis.call('HMGET', KEYS[3], 's', 'u', 'p')
  if h[1] == 'c' and tonumber(h[2]) > now then
    return {'cooling', now, h[2]}
  end
  if h[1] == 'o' and h[3] == '1' then
    return {'probe_in_flight', now}
  end
  if h[1] == 'c' or h[1] == 'o' then
    probe = 1
  end
end

prune(KEYS[1], KEYS[2], now, window)
local count = redis.call('ZCARD', KEYS[1])
local q = redis.call('HMGET', KEYS[2], 't', 'f')
local total, in_flight = tonumber(q[1]) or 0, tonumber(q[2]) or 0

if enforce then
  local by_rpm = rpm >= 0 and count >= rpm
  local by_tpm = tpm >= 0 and total + tokens > tpm
  if by_rpm or by_tpm then
    -- -1: that limit does not refuse, so the other one is named.
    local rpm_after, tpm_after = -1, -1
    if by_rpm then
      rpm_after = rpm_wait(KEYS[1], now, window, count, rpm)
    end
    if by_tpm then
      tpm_after = tpm_wait(KEYS[1], KEYS[2], now, window, total, tpm, tokens)
    end
    if tpm_after > rpm_after then
      return {'over', now, 'tpm', tpm_after}
    end
    return {'over', now, 'rpm', rpm_after}
  end
  if parallel >= 0 and in_flight >= parallel then
    return {'parallel', now}
  end
end

local day_total = 0
if tpd >= 0 then
  prune_day(KEYS[4], KEYS[5], minute)
  day_total = tonumber(redis.call('HGET', KEYS[4], 't')) or 0
  if enforce and day_total + tokens > tpd then
    return {'over', now, 'tpd', tpd_wait(KEYS[4], KEYS[5], now, day_total, tpd, tokens)}
  end
end

redis.call('ZADD', KEYS[1], num(now), id)
redis.call('HSET', KEYS[2], id, num(tokens))
redis.call('HINCRBY', KEYS[2], 't', num(tokens))
redis.call('HINCRBY', KEYS[2], 'f', 1)
redis.call('PEXPIRE', KEYS[1], num(keep_ms))
redis.call('PEXPIRE', KEYS[2], num(keep_ms))
if probe == 1 then
  redis.call('HSET', KEYS[3], 's', 'o', 'p', '1')
end
if tpd >= 0 then
  local member = 'm' .. num(minute)
  redis.call('HINCRBY', KEYS[4], member, num(tokens))
  redis.call('HINCRBY', KEYS[4], 't', num(tokens))
  redis.call('HSET', KEYS[4], 'a' .. id, num(minute), 'r' .. id, num(tokens))
  redis.call('ZADD', KEYS[5], num(minute), member)
  redis.call('PEXPIRE', KEYS[4], num(day_keep_ms))
  redis.call('PEXPIRE', KEYS[5], num(day_keep_ms))
end
return {'ok', now, probe, count + 1, total + tokens,
  rpm_wait(KEYS[1], now, window, count + 1, rpm),
  tpm_wait(KEYS[1], KEYS[2], now, window, total + tokens, tpm, tokens)}
