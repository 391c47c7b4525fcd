-- PingChannel (ping.lua), clause by clause, through the channel test harness.
-- Run with: hello-sockets test channels
describe("ping", function()
  local s
  before_each(function()
    s = ct.subscribe_and_join("ping", {})
  end)

  it("joins with an empty reply", function()
    assert.same({}, s.join_reply)
  end)

  it("echoes ack_phrase", function()
    ct.assert_reply(s:push("ping", { ack_phrase = "hi" }), "ok", { ping = "hi" })
    ct.assert_reply(s:push("ping", { ack_phrase = 42 }), "ok", { ping = 42 })
  end)

  it("answers ping with pong", function()
    local reply = ct.assert_reply(s:push("ping", {}), "ok", { ping = "pong" })
    assert.equal("pong", reply.ping)
  end)

  it("answers ping:<phrase> with the phrase", function()
    ct.assert_reply(s:push("ping:hello world", {}), "ok", { ping = "hello world" })
  end)

  it("does not reply to pong", function()
    ct.refute_reply(s:push("pong", {}))
  end)

  it("replies to ding, then closes", function()
    ct.assert_reply(s:push("ding", {}), "ok", { msg = "shutting down" })
    ct.assert_push(s, "phx_close", {})
  end)

  it("refuses param_ping with error = true", function()
    ct.assert_reply(s:push("param_ping", { error = true }), "error", { reason = "You asked for this!" })
  end)

  it("echoes any other param_ping payload", function()
    local reply = ct.assert_reply(s:push("param_ping", { error = false, n = 1 }), "ok", { n = 1, error = ct.any })
    assert.same({ error = false, n = 1 }, reply)
  end)

  it("crashes on an unknown event", function()
    local ref = s:push("unknown", {})
    ct.assert_push(s, "phx_error")
    ct.refute_reply(ref)
  end)

  it("turns a request_ping broadcast into a send_ping push (intercept)", function()
    ct.broadcast("ping", "request_ping", { x = 1 })
    ct.assert_broadcast(s, "request_ping", { x = 1 })
    ct.assert_push(s, "send_ping", { x = 1, from_node = phx.node })
    ct.refute_push(s, "request_ping")
  end)

  it("serves ping:<subtopic> too, and leaves cleanly", function()
    local sub = ct.subscribe_and_join("ping:lobby", {})
    ct.assert_reply(sub:push("ping", {}), "ok", { ping = "pong" })
    ct.assert_reply(sub:leave(), "ok", {})
    ct.assert_push(sub, "phx_close")
  end)
end)
