/// The Lua side of `*_test.lua` specs (run by `hello-sockets test` through ChannelTesting): a
/// busted-like vocabulary (`describe`, `it`, `before_each`, `assert.*`) and the `ct` module,
/// added to the same sandboxed environment channel scripts get.
///
/// Each test body runs in a coroutine; every `ct` call yields `(op, args)` to Swift, which runs
/// it on the harness and resumes the coroutine with `(ok, value)`. So specs must not yield
/// from coroutines of their own across a `ct` call.
enum SpecPrelude {
    static let chunkName = "=spec"

    /// `ct.any`, the wildcard of patterns, travels to Swift as this string.
    public static let anySentinel = "\u{0}ct.any\u{0}"

    static let source = #"""
    local make_env, null, any = ...
    local yield, create, resume, costatus = coroutine.yield, coroutine.create, coroutine.resume, coroutine.status
    local traceback, getinfo, setupvalue = debug.traceback, debug.getinfo, debug.setupvalue
    local type, pairs, ipairs, tostring, error, setmetatable, getmetatable, rawset, select, pcall =
      type, pairs, ipairs, tostring, error, setmetatable, getmetatable, rawset, select, pcall
    local concat, sort, format = table.concat, table.sort, string.format

    local tests, names, befores = {}, {}, { {} }
    local spec_source, current

    -- Raises `msg` at the spec file's line that led here (not inside this prelude).
    local function fail(msg)
      for level = 2, 64 do
        local info = getinfo(level, "Sl")
        if not info then break end
        if info.source == spec_source then error(info.source:sub(2) .. ":" .. info.currentline .. ": " .. msg, 0) end
      end
      error(msg, 0)
    end

    local function show(v, depth)
      depth = depth or 0
      if v == null then return "null" end
      if type(v) == "string" then return format("%q", v) end
      if type(v) ~= "table" then return tostring(v) end
      if depth > 4 then return "{...}" end
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      local parts = {}
      for _, k in ipairs(keys) do
        local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. show(k) .. "]")
        parts[#parts + 1] = key .. " = " .. show(v[k], depth + 1)
      end
      return "{" .. concat(parts, ", ") .. "}"
    end

    local function deep_equal(a, b)
      if a == b then return true end
      if type(a) ~= "table" or type(b) ~= "table" then return false end
      for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
      for k in pairs(b) do if a[k] == nil then return false end end
      return true
    end

    -- Runs a ct operation on the Swift harness (yields to the runner).
    local function call(op, ...)
      local args = {}
      for i = 1, select("#", ...) do
        local v = select(i, ...)
        if v == nil then v = null end
        args[i] = v
      end
      local ok, value = yield(op, args)
      if not ok then fail(value) end
      if value == null then return nil end
      return value
    end

    -- busted's vocabulary (the subset specs need).
    local function describe(name, fn)
      names[#names + 1] = tostring(name)
      befores[#befores + 1] = {}
      fn()
      names[#names] = nil
      befores[#befores] = nil
    end

    local function it(name, fn)
      local all = {}
      for _, level in ipairs(befores) do for _, f in ipairs(level) do all[#all + 1] = f end end
      local full = {}
      for i, n in ipairs(names) do full[i] = n end
      full[#full + 1] = tostring(name)
      tests[#tests + 1] = { name = concat(full, " "), fn = fn, befores = all, line = getinfo(2, "l").currentline }
    end

    local function before_each(fn)
      local level = befores[#befores]
      level[#level + 1] = fn
    end

    local assert = setmetatable({}, {
      __call = function(_, v, msg, ...)
        if not v then fail(msg or "assertion failed!") end
        return v, msg, ...
      end,
    })
    function assert.same(expected, actual)
      if not deep_equal(expected, actual) then fail("expected " .. show(expected) .. ", got " .. show(actual)) end
    end
    function assert.equal(expected, actual)
      if expected ~= actual then fail("expected " .. show(expected) .. ", got " .. show(actual) .. " (==)") end
    end
    assert.equals = assert.equal
    function assert.truthy(v, msg)
      if not v then fail(msg or ("expected a truthy value, got " .. show(v))) end
    end
    function assert.falsy(v, msg)
      if v then fail(msg or ("expected a falsy value, got " .. show(v))) end
    end
    function assert.error_matches(fn, pattern)
      local ok, err = pcall(fn)
      if ok then fail("expected an error matching " .. show(pattern) .. ", got none") end
      if not tostring(err):find(pattern) then
        fail("expected an error matching " .. show(pattern) .. ", got " .. show(tostring(err)))
      end
    end

    -- ct: Phoenix.ChannelTest for Lua, mirroring ChannelTesting's Swift API.
    local ct = { any = any }
    local socket_mt, channel_mt = {}, {}
    socket_mt.__index, channel_mt.__index = socket_mt, channel_mt
    local ref_mt = { __tostring = function(r) return "ref " .. r.ref end }
    socket_mt.__tostring = function(s) return "socket#" .. s.id end
    channel_mt.__tostring = function(c) return "channel " .. c.topic end

    local function joined(v)
      if v.error then return nil, v.error.response, v.error.status end
      return setmetatable({ id = v.channel, topic = v.topic, join_reply = v.join_reply }, channel_mt)
    end
    local function channel_of(c, fname)
      if getmetatable(c) ~= channel_mt then fail("bad argument #1 to '" .. fname .. "' (channel expected, got " .. show(c) .. ")") end
      return c.id
    end
    local function ref_of(r, fname)
      if getmetatable(r) ~= ref_mt then fail("bad argument #1 to '" .. fname .. "' (ref from ch:push expected, got " .. show(r) .. ")") end
      return r
    end
    local function pattern(p) if p == nil then return any end return p end

    -- ct.socket{params = {...}} runs socket.lua's connect; ct.socket{id = ..., assigns = {...}} builds it directly.
    function ct.socket(opts)
      opts = opts or {}
      return setmetatable({ id = call("socket", opts.params or {}, opts.id, opts.assigns) }, socket_mt)
    end
    function socket_mt:subscribe_and_join(topic, payload) return joined(call("join", self.id, topic, payload or {}, true)) end
    function socket_mt:join(topic, payload) return joined(call("join", self.id, topic, payload or {}, false)) end
    function socket_mt:close() call("close_socket", self.id) end
    -- A new socket joined to topic: the channel, or nil, error reply, status.
    function ct.subscribe_and_join(topic, payload) return joined(call("join", null, topic, payload or {}, true)) end
    function channel_mt:push(event, payload)
      return setmetatable({ channel = self.id, ref = call("push", self.id, event, payload or {}) }, ref_mt)
    end
    function channel_mt:leave() return setmetatable({ channel = self.id, ref = call("leave", self.id) }, ref_mt) end
    function channel_mt:close() call("close", self.id) end
    function channel_mt:broadcast_from(event, payload) call("broadcast_from", self.id, event, payload or {}) end
    function ct.assert_reply(ref, status, p)
      ref = ref_of(ref, "assert_reply")
      return call("assert_reply", ref.channel, ref.ref, status or "ok", pattern(p))
    end
    function ct.refute_reply(ref, status, p)
      ref = ref_of(ref, "refute_reply")
      call("refute_reply", ref.channel, ref.ref, status, pattern(p))
    end
    for _, name in ipairs({ "assert_push", "refute_push", "assert_broadcast", "refute_broadcast" }) do
      ct[name] = function(c, event, p) return call(name, channel_of(c, name), event, pattern(p)) end
    end
    function ct.broadcast(topic, event, payload) call("broadcast", topic, event, payload or {}) end
    function ct.advance_time(ms) call("advance_time", ms) end
    -- Presence.list(topic): { key = { metas = { meta, ... } } } as clients have been told it.
    function ct.presence_list(topic) return call("presence_list", topic) end
    -- phx.http.request answered by stubs: stub(method, url, {status, body, headers, delay_ms} | {error, delay_ms});
    -- requests() lists the requests made, {method, url, headers, body}, oldest first.
    ct.http = {
      stub = function(method, url, response) call("http_stub", method, url, response or {}) end,
      requests = function() return call("http_requests") end,
    }
    -- The channels' phx.kv store, as phx.kv sees it: get, set, incr, delete, push, range.
    ct.kv = {}
    for _, op in ipairs({ "get", "set", "incr", "delete", "push", "range" }) do
      ct.kv[op] = function(...) return call("kv", op, ...) end
    end

    local runner = {}

    -- Runs a spec chunk's top level (collecting its tests); returns { {name, line}, ... }.
    function runner.load(chunk, path)
      tests, names, befores = {}, {}, { {} }
      spec_source = "@" .. path
      local env = make_env()
      rawset(env, "describe", describe)
      rawset(env, "it", it)
      rawset(env, "before_each", before_each)
      rawset(env, "assert", assert)
      rawset(env, "ct", ct)
      setupvalue(chunk, 1, env)
      chunk()
      local list = {}
      for i, t in ipairs(tests) do list[i] = { name = t.name, line = t.line } end
      return list
    end

    function runner.start(i)
      local t = tests[i]
      current = create(function()
        for _, f in ipairs(t.befores) do f() end
        t.fn()
      end)
    end

    -- Resumes the current test: { kind = "call", op, args } | { kind = "passed" } | { kind = "failed", message, traceback }.
    function runner.step(...)
      local ok, a, b = resume(current, ...)
      if not ok then
        return { kind = "failed", message = type(a) == "string" and a or show(a), traceback = traceback(current) }
      end
      if costatus(current) == "dead" then return { kind = "passed" } end
      return { kind = "call", op = a, args = b }
    end

    return runner
    """#
}
