local cur = redis.call('GET', KEYS[1])
if cur == 'e' then return 0 end
local untl = tonumber(ARGV[1])
local exp = redis.call('EXPIRETIME', KEYS[1])
if exp > untl then untl = exp end
redis.call('SET', KEYS[1], 'e', 'EXAT', untl)
local key = string.sub(ARGV[3], string.find(ARGV[3], ' ', 3, true) + 1)
local t = redis.call('TIME')
local minid = string.format('%d-0', math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])))
local prev = redis.call('GET', KEYS[3])
local id = redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'e', 'r ' .. untl .. ' ' .. key)
if prev then redis.call('XDEL', KEYS[2], prev) end
redis.call('SET', KEYS[3], id, 'EXAT', untl)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
