if not redis.call('SET', KEYS[1], 1, 'NX', 'EXAT', ARGV[1]) then return 0 end
local t = redis.call('TIME')
local minid = string.format('%d-0', math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])))
redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'e', ARGV[3])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
