/// The Lua half of the sandbox and of the `phx` module, run once per VM with the full standard
/// library. Scripts never see the real globals: each gets a fresh `_ENV` from `make_env`.
///
/// Written in Lua because these pieces only shuffle Lua values; everything that reaches the
/// server (push, broadcast, timers, logging, loading library files) is a Swift function in
/// `natives`, called through the C trampoline.
enum SandboxPrelude {
    static let chunkName = "=phx"

    static let source = #"""
    local natives, node = ...
    local dsetmt, dgetmt, dsetupvalue = debug.setmetatable, debug.getmetatable, debug.setupvalue
    local setmetatable, getmetatable, rawget, type, error, tostring, select = setmetatable, getmetatable, rawget, type, error, tostring, select
    local next, load, concat = next, load, table.concat

    -- Freeze the string metatable: scripts reach string functions through it ("x"):find(...).
    getmetatable("").__metatable = "string"

    local function readonly(t, name)
      return setmetatable({}, {
        __index = t,
        __newindex = function(_, k) error("attempt to modify read-only table '" .. name .. "' (key '" .. tostring(k) .. "')", 2) end,
        __pairs = function() return next, t, nil end,
        __len = function() return #t end,
        __metatable = false,
      })
    end

    -- Tags. Their __metatable fields hide the real tables from scripts (getmetatable returns the name).
    local null = setmetatable({}, {
      __name = "phx.null", __metatable = "phx.null",
      __tostring = function() return "null" end,
      __newindex = function() error("phx.null is read-only", 2) end,
    })
    local array_mt = { __name = "phx.array", __metatable = "phx.array" }
    local object_mt = { __name = "phx.object", __metatable = "phx.object" }
    local binary_mt = { __name = "phx.binary", __metatable = "phx.binary" }
    local result_mt = { __name = "phx.result", __metatable = "phx.result" }
    local timer_mt = { __name = "phx.timer", __metatable = "phx.timer" }
    local ref_mt = { __name = "phx.socket_ref", __metatable = "phx.socket_ref" }
    local sockets = setmetatable({}, { __mode = "k" })   -- socket table -> channel id (set by Swift)

    -- phx.presence.list returns a proxy: an empty table with list_mt, whose box (in `lists`, set by
    -- Swift) holds the topic's shared list. The first use copies the list into the table, which then
    -- becomes a plain phx.object; a proxy pushed untouched goes out as the bytes encoded once per change.
    local fill = natives.presence_fill
    local lists = setmetatable({}, { __mode = "k" })   -- proxy -> box (set by Swift)
    local list_mt = {
      __name = "phx.presence_list", __metatable = "phx.object",
      __index = function(t, k) fill(t); return rawget(t, k) end,
      __newindex = function(t, k, v) fill(t); rawset(t, k, v) end,
      __pairs = function(t) fill(t); return next, t, nil end,
      __len = function(t) fill(t); return #t end,
    }
    -- next(list) == nil must not mistake an untouched proxy for an empty list.
    local function next_fn(t, k)
      if dgetmt(t) == list_mt then fill(t) end
      return next(t, k)
    end

    local function shape(mt, fname)
      return function(t)
        if t == nil then return dsetmt({}, mt) end
        if type(t) ~= "table" or t == null then
          error("bad argument #1 to '" .. fname .. "' (table expected, got " .. type(t) .. ")", 2)
        end
        if dgetmt(t) == list_mt then fill(t) end
        local current = dgetmt(t)
        if current ~= nil and current ~= array_mt and current ~= object_mt then
          error("bad argument #1 to '" .. fname .. "' (table already has a metatable)", 2)
        end
        return dsetmt(t, mt)
      end
    end

    local function result(kind, status, payload, reason, reply)
      return dsetmt({ kind = kind, status = status, payload = payload, reason = reason, reply = reply }, result_mt)
    end

    local phx = {
      null = null,
      node = node,
      array = shape(array_mt, "array"),
      object = shape(object_mt, "object"),
      push = natives.push,
      broadcast = natives.broadcast,
      broadcast_from = natives.broadcast_from,
      socket_ref = natives.socket_ref,
      reply_to = natives.reply_to,
      send_after = natives.send_after,
      cancel_timer = natives.cancel_timer,
      -- rate(socket, key, per_second, burst?) -> true while this channel's bucket `key` has a token
      rate = natives.rate,
      -- Phoenix.Token: sign(salt, data, {max_age=, signed_at=}?) -> token;
      -- verify(salt, token, max_age_seconds?) -> data | nil, reason
      token = readonly({ sign = natives.token_sign, verify = natives.token_verify }, "phx.token"),
      -- request{ method, url, headers, body, timeout_ms } -> response {status, headers, body} | nil, err (waits)
      http = readonly({ request = natives.http_request }, "phx.http"),
      -- encode(value) -> string; decode(string) -> value | nil, err
      json = readonly({ encode = natives.json_encode, decode = natives.json_decode }, "phx.json"),
      -- The node's key-value store (embedded, or Redis with --redis): values are any JSON value.
      kv = readonly({
        get = natives.kv_get, set = natives.kv_set, incr = natives.kv_incr, delete = natives.kv_delete,
        push = natives.kv_push, range = natives.kv_range,
      }, "phx.kv"),
      -- JWT: verify(token, {iss=, aud=, leeway_s=}?) -> claims | nil, reason
      jwt = readonly({ verify = natives.jwt_verify }, "phx.jwt"),
      -- Phoenix.Presence: track(socket, key, meta, topic?) -> phx_ref | nil, "already tracked";
      -- update(socket, key, meta, topic?) -> phx_ref | nil, "not tracked"; untrack(socket, key, topic?)
      -- -> true | nil, "not tracked"; list(socket_or_topic) -> { key = { metas = { meta, ... } } }
      presence = readonly({
        track = natives.presence_track, update = natives.presence_update,
        untrack = natives.presence_untrack, list = natives.presence_list,
      }, "phx.presence"),
    }
    function phx.ok(reply) return result("reply", "ok", reply) end
    function phx.error(reply) return result("reply", "error", reply) end
    function phx.reply(status, payload)
      if type(status) ~= "string" then
        error("bad argument #1 to 'reply' (string expected, got " .. type(status) .. ")", 2)
      end
      return result("reply", status, payload)
    end
    function phx.noreply() return result("noreply") end
    function phx.stop(reason, reply)
      if type(reason) ~= "string" then
        error("bad argument #1 to 'stop' (string expected, got " .. type(reason) .. ")", 2)
      end
      if reply ~= nil and not (dgetmt(reply) == result_mt and reply.kind == "reply") then
        error("bad argument #2 to 'stop' (phx.ok/phx.error/phx.reply expected)", 2)
      end
      return result("stop", nil, nil, reason, reply)
    end
    function phx.binary(data)
      if type(data) ~= "string" then
        error("bad argument #1 to 'binary' (string expected, got " .. type(data) .. ")", 2)
      end
      return dsetmt({ data = data }, binary_mt)
    end
    function phx.is_binary(v) return dgetmt(v) == binary_mt end

    local function safe_setmetatable(t, mt)
      if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
        error("__gc metamethods are not allowed in channel scripts", 2)
      end
      return setmetatable(t, mt)
    end

    local function print_fn(...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      natives.log(concat(parts, "\t"))
    end

    local base = {
      string = readonly(string, "string"), table = readonly(table, "table"), math = readonly(math, "math"),
      utf8 = readonly(utf8, "utf8"), coroutine = readonly(coroutine, "coroutine"),
      os = readonly({ time = os.time, clock = os.clock, date = os.date }, "os"),
      pairs = pairs, ipairs = ipairs, type = type, tostring = tostring, tonumber = tonumber, select = select,
      error = error, assert = assert, pcall = pcall, xpcall = xpcall, next = next_fn, rawequal = rawequal,
      rawget = rawget, rawlen = rawlen, setmetatable = safe_setmetatable, getmetatable = getmetatable,
      print = print_fn, phx = readonly(phx, "phx"), _VERSION = _VERSION,
    }
    local safe = readonly(base, "_G")

    local loaded, loading = {}, {}
    local make_env

    local function require_fn(name)
      if type(name) ~= "string" then
        error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
      end
      local v = loaded[name]
      if v ~= nil then return v end
      if loading[name] then error("circular require of '" .. name .. "'", 2) end
      local chunk, err = natives.load_library(name)
      if not chunk then error(err, 2) end
      dsetupvalue(chunk, 1, make_env())
      loading[name] = true
      local ok, value = pcall(chunk, name)
      loading[name] = nil
      if not ok then error(value, 0) end
      if value == nil then value = true end
      loaded[name] = value
      return value
    end

    make_env = function()
      local env = {}
      env._G = env
      env.require = require_fn
      -- Text chunks only; their globals default to this script's environment.
      env.load = function(chunk, name, mode, chunk_env)
        if chunk_env == nil then chunk_env = env end
        return load(chunk, name, "t", chunk_env)
      end
      return setmetatable(env, {
        __index = safe,
        __newindex = function(_, k)
          error("assignment to undeclared global '" .. tostring(k) .. "' (use local)", 2)
        end,
        __metatable = false,
      })
    end

    -- Runs a freshly loaded script chunk in its own environment and returns what it returns.
    local function instantiate(chunk)
      dsetupvalue(chunk, 1, make_env())
      return chunk()
    end

    return {
      null = null, array_mt = array_mt, object_mt = object_mt, binary_mt = binary_mt,
      result_mt = result_mt, timer_mt = timer_mt, ref_mt = ref_mt, sockets = sockets,
      list_mt = list_mt, lists = lists,
      instantiate = instantiate, make_env = make_env,
      -- Hot reload: forget cached lib modules so the next require loads their new version.
      reset_loaded = function() loaded = {} end,
    }
    """#
}
