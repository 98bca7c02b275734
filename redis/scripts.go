package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts never decode a user value: they copy values from ARGV into
// the hash, compare SHA-1 digests of stored values, and let HINCRBY add
// plain integers. Numbers that Lua itself reads are the reserved
// millisecond fields, exact in a double until the year 287396.

// createScript writes a new session.
//
//	KEYS[1]  the session key
//	ARGV[1]  now, Unix ms
//	ARGV[2]  expires, Unix ms
//	ARGV[3:] field, value, field, value, ...
//
// It returns 0 if a live session holds the key, else 1 after replacing
// whatever the key held (an expired session that Redis has not removed yet).
var createScript = goredis.NewScript(`
local key = KEYS[1]
local exp = redis.call('HGET', key, '$expires')
if exp and tonumber(exp) > tonumber(ARGV[1]) then
	return 0
end
redis.call('DEL', key)
for i = 3, #ARGV, 2 do
	redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', key, ARGV[2])
return 1
`)

// applyScript applies one batch to a live session. The Store sends it in
// MULTI, followed by HGETALL of the key, so that it receives the document
// just after the script in the same round trip without copying it through
// Lua (for a 64 KB session that copy cost about 0.2 ms).
//
//	KEYS[1]  the session key
//	ARGV[1]  now, Unix ms
//	ARGV[2]  the new expires, Unix ms
//	ARGV[3]  created, Unix ms, that the session must have; "" for any
//	ARGV[4]  n, the number of checks
//	then n pairs: field, SHA-1 hex of its value as read ("" for absent)
//	then triples: op, field, value, where op is
//	  "s"  HSET field value
//	  "u"  HDEL field
//	  "i"  HINCRBY field value
//	  "p"  append to the array in field the encoded elements in value
//	       (joined by ','; "" for none), or create it: $push as text, as
//	       the encoding of an array always starts with '[' and ends with ']'
//
// It returns scriptNotFound if no live session holds the key,
// scriptConflict if the session's created or a checked field differs
// (another writer came first), scriptFallback if an "i" field holds
// something other than an integer of at most 18 digits, whose sum could
// leave the int64 range, or a "p" field holds something other than an
// array (Go applies the batch, and fails it if the reference semantics do)
// — in these cases nothing changed — and else scriptApplied. Every check
// runs before the first write, so a batch applies entirely or not at all.
var applyScript = goredis.NewScript(`
local key = KEYS[1]
local exp = redis.call('HGET', key, '$expires')
if not exp or tonumber(exp) <= tonumber(ARGV[1]) then
	return 0
end
if ARGV[3] ~= '' and redis.call('HGET', key, '$created') ~= ARGV[3] then
	return 2
end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
	local cur = redis.call('HGET', key, ARGV[i])
	local digest = ''
	if cur then
		digest = redis.sha1hex(cur)
	end
	if digest ~= ARGV[i + 1] then
		return 2
	end
	i = i + 2
end
local first = i
while i <= #ARGV do
	local op = ARGV[i]
	if op == 'i' or op == 'p' then
		local cur = redis.call('HGET', key, ARGV[i + 1])
		if cur and op == 'i' then
			local digits = string.match(cur, '^%-?(%d+)$')
			if not digits or #digits > 18 or (#digits > 1 and string.sub(digits, 1, 1) == '0') or cur == '-0' then
				return 1
			end
		elseif cur and string.sub(cur, 1, 1) ~= '[' then
			return 1
		end
	end
	i = i + 3
end
i = first
while i <= #ARGV do
	local op = ARGV[i]
	if op == 's' then
		redis.call('HSET', key, ARGV[i + 1], ARGV[i + 2])
	elseif op == 'u' then
		redis.call('HDEL', key, ARGV[i + 1])
	elseif op == 'i' then
		redis.call('HINCRBY', key, ARGV[i + 1], ARGV[i + 2])
	else
		local cur = redis.call('HGET', key, ARGV[i + 1])
		local add = ARGV[i + 2]
		if not cur then
			redis.call('HSET', key, ARGV[i + 1], '[' .. add .. ']')
		elseif add ~= '' then
			if cur ~= '[]' then
				add = ',' .. add
			end
			redis.call('HSET', key, ARGV[i + 1], string.sub(cur, 1, -2) .. add .. ']')
		end
	end
	i = i + 3
end
redis.call('HSET', key, '$expires', ARGV[2])
redis.call('PEXPIREAT', key, ARGV[2])
return 3
`)

// Results of applyScript.
const (
	scriptNotFound = 0
	scriptFallback = 1
	scriptConflict = 2
	scriptApplied  = 3
)
