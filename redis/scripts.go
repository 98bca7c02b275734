package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts never decode a user value: they copy values from ARGV into
// the hash and back out, compare SHA-1 digests of stored values, and let
// HINCRBY add plain integers. Numbers that Lua itself reads are the reserved
// millisecond fields, exact in a double until the year 287396. Every script
// names one key only, so each runs in one slot of a Redis Cluster.

// createScript writes a new session.
//
//	KEYS[1]  the session key
//	ARGV[1]  now, Unix ms
//	ARGV[2]  expires, Unix ms
//	ARGV[3:] field, value, field, value, ...
//
// It returns 0 if a live session holds the key, else 1 after replacing
// whatever the key held (an expired session that Redis has not removed yet).
// It writes the fields with one HSET (one per 1000 fields).
var createScript = goredis.NewScript(`
local key = KEYS[1]
local exp = redis.call('HGET', key, '$expires')
if exp and tonumber(exp) > tonumber(ARGV[1]) then
	return 0
end
redis.call('DEL', key)
for i = 3, #ARGV, 2000 do
	redis.call('HSET', key, unpack(ARGV, i, math.min(#ARGV, i + 1999)))
end
redis.call('PEXPIREAT', key, ARGV[2])
return 1
`)

// applyScript applies one step to a live session and returns the fields
// the caller asked for, as they are after it.
//
//	KEYS[1]  the session key
//	ARGV[1]  now, Unix ms
//	ARGV[2]  the new expires, Unix ms
//	ARGV[3]  created, Unix ms, that the session must have; "" for any
//	ARGV[4]  the new maxAge in ms; "" to keep it
//	ARGV[5]  the new label; "" to keep it
//	ARGV[6]  "1" to return the whole hash too (Update.FetchAll)
//	ARGV[7]  c, the number of checks
//	ARGV[8]  r, the number of fields to return
//	then c pairs: field, SHA-1 hex of its value as the caller holds it
//	     ("" for absent)
//	then r fields to return, distinct, among them every checked field
//	     and every field of an operation (else the script fails, before
//	     it writes)
//	then triples: op, field, value, at most one per field, where op is
//	  "s"  HSET field value
//	  "u"  HDEL field
//	  "t"  HDEL field, returning its value before (Take)
//	  "i"  HINCRBY field value
//	  "p"  append to the array in field the encoded elements in value
//	       (joined by ','; "" for none), or create it: $push as text, as
//	       the encoding of an array always starts with '[' and ends with ']'
//
// It returns {status, values, takes, hash}: values are the reserved
// fields ($expires $maxAge $created $user $label $indexed) and the r
// fields, after the step if it applied and as found otherwise; takes the
// values before of the "t" fields, in order; hash HGETALL after the step if
// ARGV[6] asked for it. status is scriptNotFound (and nothing else) if no
// live session holds the key, scriptConflict if the session's created or a
// checked field differs (another writer came first), scriptFallback if an
// "i" field holds something other than an integer of at most 18 digits,
// whose sum could leave the int64 range, or a "p" field holds something
// other than an array (Go applies the batch, and fails it if the reference
// semantics do) — in these cases nothing changed — and else scriptApplied.
// Every check runs before the first write, so a step applies entirely or
// not at all. If it applied but the new expires is not after Redis's time
// (PEXPIREAT then deletes the key; the script deletes what it wrote after)
// or not after now (ARGV[1], the Store's clock, by which Load judges too),
// the session is gone: $expires is false in values, and the rest is not
// to be used.
//
// Each Redis command costs time of its own, inside a script too, so the
// script reads every field it needs with one HMGET, writes with one HSET
// and one HDEL, and works out the values after the step from what it read
// and wrote instead of reading them again; only an "i" field whose new
// value a Lua number cannot hold exactly (2^53 or more) is read again. (Lists of more
// than chunk elements go in several commands: Lua's unpack has a limit.)
var applyScript = goredis.NewScript(`
local key = KEYS[1]
local chunk = 2000
local nchecks, nret = tonumber(ARGV[7]), tonumber(ARGV[8])
local retFrom = 9 + 2 * nchecks
local first = retFrom + nret
local vals = redis.call('HMGET', key, '$expires', '$maxAge', '$created', '$user', '$label', '$indexed',
	unpack(ARGV, retFrom, math.min(first - 1, retFrom + chunk - 1)))
for j = retFrom + chunk, first - 1, chunk do
	local more = redis.call('HMGET', key, unpack(ARGV, j, math.min(first - 1, j + chunk - 1)))
	for _, v in ipairs(more) do
		vals[#vals + 1] = v
	end
end
if not vals[1] or tonumber(vals[1]) <= tonumber(ARGV[1]) then
	return {0}
end
if ARGV[3] ~= '' and vals[3] ~= ARGV[3] then
	return {2, vals}
end
local pos = {}
for j = 0, nret - 1 do
	pos[ARGV[retFrom + j]] = 7 + j
end
-- Every checked or operated field is one of the r fields (the Store
-- sends them so): one that is not is the caller's error, before any write.
local function cur(f)
	if not pos[f] then
		error(redis.error_reply('applyScript: field ' .. f .. ' is not among the returned fields'))
	end
	return vals[pos[f]]
end
local i = 9
for _ = 1, nchecks do
	local v = cur(ARGV[i])
	local digest = ''
	if v then
		digest = redis.sha1hex(v)
	end
	if digest ~= ARGV[i + 1] then
		return {2, vals}
	end
	i = i + 2
end
i = first
while i <= #ARGV do
	local op = ARGV[i]
	if op == 'i' or op == 'p' then
		local v = cur(ARGV[i + 1])
		if v and op == 'i' then
			local digits = string.match(v, '^%-?(%d+)$')
			if not digits or #digits > 18 or (#digits > 1 and string.sub(digits, 1, 1) == '0') or v == '-0' then
				return {1, vals}
			end
		elseif v and string.sub(v, 1, 1) ~= '[' then
			return {1, vals}
		end
	end
	i = i + 3
end
local sets = {'$expires', ARGV[2]}
vals[1] = ARGV[2]
if ARGV[4] ~= '' then
	sets[#sets + 1], sets[#sets + 2] = '$maxAge', ARGV[4]
	vals[2] = ARGV[4]
end
if ARGV[5] ~= '' then
	sets[#sets + 1], sets[#sets + 2] = '$label', ARGV[5]
	vals[5] = ARGV[5]
end
local dels, takes, incs = {}, {}, {}
local function after(f, v)
	if pos[f] then
		vals[pos[f]] = v
	end
end
i = first
while i <= #ARGV do
	local op, f, v = ARGV[i], ARGV[i + 1], ARGV[i + 2]
	if op == 's' then
		sets[#sets + 1], sets[#sets + 2] = f, v
		after(f, v)
	elseif op == 'u' or op == 't' then
		if op == 't' then
			takes[#takes + 1] = cur(f)
		end
		dels[#dels + 1] = f
		after(f, false)
	elseif op == 'i' then
		incs[#incs + 1] = i
	else
		local old, new = cur(f), nil
		if not old or old == '[]' then
			new = '[' .. v .. ']'
		elseif v ~= '' then
			new = string.sub(old, 1, -2) .. ',' .. v .. ']'
		end
		if new then
			sets[#sets + 1], sets[#sets + 2] = f, new
			after(f, new)
		end
	end
	i = i + 3
end
-- PEXPIREAT judges by Redis's clock: if the new expires has passed there,
-- it deletes the key. The HSET after it then tells, at no cost of its own:
-- its first chunk begins with $expires, which the key held, so it adds
-- every field of the chunk only if the key is gone (the fields of sets are
-- distinct). The key it has made anew, without a TTL, goes too.
redis.call('PEXPIREAT', key, ARGV[2])
local n = math.min(#sets, chunk)
if redis.call('HSET', key, unpack(sets, 1, n)) == n / 2 then
	redis.call('DEL', key)
	vals[1] = false
	return {3, vals, {}, {}}
end
for j = 1 + chunk, #sets, chunk do
	redis.call('HSET', key, unpack(sets, j, math.min(#sets, j + chunk - 1)))
end
for j = 1, #dels, chunk do
	redis.call('HDEL', key, unpack(dels, j, math.min(#dels, j + chunk - 1)))
end
for _, j in ipairs(incs) do
	local f = ARGV[j + 1]
	local n = redis.call('HINCRBY', key, f, ARGV[j + 2])
	if n > -9007199254740992 and n < 9007199254740992 then
		after(f, string.format('%.0f', n))
	else
		after(f, redis.call('HGET', key, f))
	end
end
if tonumber(ARGV[2]) <= tonumber(ARGV[1]) then
	vals[1] = false -- expired by the Store's clock, which Load goes by too
end
local all = {}
if ARGV[6] == '1' then
	all = redis.call('HGETALL', key)
end
return {3, vals, takes, all}
`)

// Results of applyScript.
const (
	scriptNotFound = 0
	scriptFallback = 1
	scriptConflict = 2
	scriptApplied  = 3
)

// deleteScript deletes a session and returns its $user (nil if none, or
// if there was no session), so that the Store can drop it from the index.
//
//	KEYS[1]  the session key
var deleteScript = goredis.NewScript(`
local user = redis.call('HGET', KEYS[1], '$user')
redis.call('DEL', KEYS[1])
return user
`)

// revokeScript deletes a session if it is bound to the user.
//
//	KEYS[1]  the session key
//	ARGV[1]  the user id
//	ARGV[2]  now, Unix ms
//
// It returns 0 if the session is not bound to the user (or does not
// exist), 1 if it deleted an expired one, 2 if it deleted a live one.
var revokeScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], '$user') ~= ARGV[1] then
	return 0
end
local exp = redis.call('HGET', KEYS[1], '$expires')
redis.call('DEL', KEYS[1])
if exp and tonumber(exp) > tonumber(ARGV[2]) then
	return 2
end
return 1
`)

// indexScript adds a session to its user's index, a sorted set whose
// scores bound the members' expiries, drops the members whose bound has
// passed, and makes the set itself expire with its last member.
//
//	KEYS[1]  the user index key
//	ARGV[1]  the session id
//	ARGV[2]  its bound, Unix ms: a time at or after its expiry
//	ARGV[3]  now, Unix ms
//
// A member's score only grows. It returns the number of members left.
var indexScript = goredis.NewScript(`
local key = KEYS[1]
local cur = redis.call('ZSCORE', key, ARGV[1])
if not cur or tonumber(cur) < tonumber(ARGV[2]) then
	redis.call('ZADD', key, ARGV[2], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if last[2] then
	redis.call('PEXPIREAT', key, last[2])
end
return redis.call('ZCARD', key)
`)

// markScript records in a session that the user index keeps it until a
// time, unless the session is gone or already records a later one.
//
//	KEYS[1]  the session key
//	ARGV[1]  the time, Unix ms
var markScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
local cur = redis.call('HGET', KEYS[1], '$indexed')
if not cur or tonumber(cur) < tonumber(ARGV[1]) then
	redis.call('HSET', KEYS[1], '$indexed', ARGV[1])
end
return 1
`)

// allScripts are the Store's scripts, all of them (tests load them ahead).
var allScripts = []*goredis.Script{createScript, applyScript, deleteScript, revokeScript, indexScript, markScript}
