local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local value = tonumber(ARGV[1])
if ARGV[6] ~= 'exact' and now + 1 > value then value = now + 1 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur > value then value = cur end
local text = string.format('%d', value)
local untl = tonumber(ARGV[2])
local exp = redis.call('EXPIRETIME', KEYS[1])
if exp > untl then untl = exp end
redis.call('SET', KEYS[1], text, 'EXAT', untl)
local minid = string.format('%d-0', math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[5])))
local prev = redis.call('GET', KEYS[3])
local id = redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'e', 'w ' .. text .. ' ' .. untl .. ' ' .. ARGV[4])
if prev then redis.call('XDEL', KEYS[2], prev) end
redis.call('SET', KEYS[3], id, 'EXAT', untl)
redis.call('PUBLISH', ARGV[3], 'u ' .. text .. ' ' .. ARGV[4])
return value
