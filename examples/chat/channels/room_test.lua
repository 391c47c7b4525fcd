-- The chat room (room.lua). Run with: hello-sockets test examples/chat/channels
describe("room", function()
  it("needs a name to join", function()
    local s, reply, status = ct.subscribe_and_join("room:lobby", {})
    assert.falsy(s)
    assert.equal("error", status)
    assert.same({ reason = "a name is required" }, reply)
    assert.falsy(ct.subscribe_and_join("room:lobby", { name = "   " }))
    assert.falsy(ct.subscribe_and_join("room:lobby", { name = string.rep("x", 33) }))
  end)

  it("joins with a name and lists who is here", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = " alice " })
    assert.same({ name = "alice", messages = {} }, alice.join_reply)
    ct.advance_time(0)
    ct.assert_push(alice, "presence", { users = { "alice" } })
  end)

  it("broadcasts new_msg to everyone in the room, the sender too", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    local carol = ct.subscribe_and_join("room:elsewhere", { name = "carol" })
    ct.assert_reply(alice:push("new_msg", { body = "hello" }), "ok", {})
    ct.assert_push(alice, "new_msg", { user = "alice", body = "hello" })
    ct.assert_push(bob, "new_msg", { user = "alice", body = "hello" })
    ct.refute_push(carol, "new_msg")
  end)

  it("refuses empty messages and unknown events", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    ct.assert_reply(alice:push("new_msg", { body = "  " }), "error", { reason = "empty message" })
    ct.assert_reply(alice:push("new_msg", {}), "error", { reason = "empty message" })
    ct.assert_reply(alice:push("shout", {}), "error", {})
    ct.refute_push(alice, "new_msg")
  end)

  it("tells everyone who joins and who leaves", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    ct.advance_time(0)
    ct.assert_push(alice, "presence", { users = { "alice" } })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    ct.assert_push(bob, "presence", { users = { "bob" } })            -- at first bob knows only himself,
    ct.assert_push(alice, "presence", { users = { "alice", "bob" } }) -- alice hears bob's hello,
    ct.assert_push(bob, "presence", { users = { "alice", "bob" } })   -- and bob hears alice's answer
    ct.assert_reply(bob:leave(), "ok", {})
    ct.assert_push(alice, "presence", { users = { "alice" } })
  end)

  it("forgets a member whose connection closes", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    ct.assert_push(alice, "presence", { users = { "alice" } })
    ct.assert_push(alice, "presence", { users = { "alice", "bob" } })
    bob:close()
    ct.assert_push(alice, "presence", { users = { "alice" } })
  end)

  it("never shows the presence broadcasts to clients", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    for _, event in ipairs({ "presence_hello", "presence_here", "presence_bye" }) do
      ct.refute_push(alice, event)
      ct.refute_push(bob, event)
    end
  end)

  it("keeps the last 50 messages and gives them to newcomers", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    for i = 1, 52 do
      ct.assert_reply(alice:push("new_msg", { body = "m" .. i }), "ok", {})
    end
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    local history = bob.join_reply.messages
    assert.equal(50, #history)
    assert.same({ user = "alice", body = "m3" }, history[1])
    assert.same({ user = "alice", body = "m52" }, history[50])
    assert.equal(50, #ct.kv.range("history:room:lobby", 100))
    local carol = ct.subscribe_and_join("room:elsewhere", { name = "carol" })
    assert.same({}, carol.join_reply.messages)
  end)
end)
