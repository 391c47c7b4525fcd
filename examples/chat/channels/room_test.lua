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

  it("joins with a name, is tracked, and gets the list", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = " alice " })
    assert.same({ name = "alice", messages = {} }, alice.join_reply)
    ct.advance_time(0)
    -- Its own diff first, then the list, as Phoenix sends them.
    ct.assert_push(alice, "presence_diff", { joins = { alice = { metas = { { typing = false } } } }, leaves = {} })
    local state = ct.assert_push(alice, "presence_state", { alice = { metas = { { typing = false } } } })
    assert.equal(16, #state.alice.metas[1].phx_ref)
    assert.same({ "alice" }, (function()
      local keys = {}
      for key in pairs(ct.presence_list("room:lobby")) do keys[#keys + 1] = key end
      return keys
    end)())
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
    ct.assert_push(alice, "presence_state", { alice = ct.any })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    ct.assert_push(alice, "presence_diff", { joins = { bob = ct.any }, leaves = {} })
    ct.assert_push(bob, "presence_state", { alice = ct.any, bob = ct.any })
    ct.assert_reply(bob:leave(), "ok", {})
    ct.assert_push(alice, "presence_diff", { joins = {}, leaves = { bob = ct.any } })
    assert.same({ "alice" }, (function()
      local keys = {}
      for key in pairs(ct.presence_list("room:lobby")) do keys[#keys + 1] = key end
      return keys
    end)())
  end)

  it("forgets a member whose connection closes", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    bob:close()
    ct.assert_push(alice, "presence_diff", { joins = {}, leaves = { bob = ct.any } })
    assert.falsy(ct.presence_list("room:lobby").bob)
  end)

  it("shows who is typing with presence updates", function()
    local alice = ct.subscribe_and_join("room:lobby", { name = "alice" })
    local bob = ct.subscribe_and_join("room:lobby", { name = "bob" })
    ct.advance_time(0)
    ct.assert_push(alice, "presence_diff", { joins = { bob = ct.any } })
    ct.assert_reply(bob:push("typing", { typing = true }), "ok", {})
    local diff = ct.assert_push(alice, "presence_diff", {
      joins = { bob = { metas = { { typing = true } } } },
      leaves = { bob = { metas = { { typing = false } } } },
    })
    -- The new meta points at the one it replaced.
    assert.equal(diff.leaves.bob.metas[1].phx_ref, diff.joins.bob.metas[1].phx_ref_prev)
    assert.equal(true, ct.presence_list("room:lobby").bob.metas[1].typing)
    -- Saying it twice changes nothing.
    ct.assert_reply(bob:push("typing", { typing = true }), "ok", {})
    ct.refute_push(alice, "presence_diff", { joins = { bob = ct.any } })
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
