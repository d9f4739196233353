local mark = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if mark > tonumber(ARGV[7]) then return {4, mark} end
local cur = redis.call('GET', KEYS[1])
if cur == 'e' then return {2, 0} end
local g = tonumber(cur or '0') or 0
local from = tonumber(ARGV[1])
if g > from then return {3, g} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = tonumber(ARGV[2])
local exp = redis.call('EXPIRETIME', KEYS[1])
if exp > untl then untl = exp end
redis.call('SET', KEYS[1], from + 1, 'EXAT', untl)
local minid = string.format('%d-0', math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[6])))
local prev = redis.call('GET', KEYS[4])
local id = redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'e', 'g ' .. untl .. ' ' .. (from + 1) .. ' ' .. ARGV[5])
if prev then redis.call('XDEL', KEYS[2], prev) end
redis.call('SET', KEYS[4], id, 'EXAT', untl)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {1, now}
