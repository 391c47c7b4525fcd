-- WildcardChannel (wild.lua): join only "wild:A:B" with integers and B == 2 * A; ping; crash on anything else.
describe("wild", function()
  it("joins when the second number is twice the first", function()
    for _, topic in ipairs({ "wild:1:2", "wild:0:0", "wild:-3:-6", "wild:+2:4", "wild:20:40" }) do
      local s, reply = ct.subscribe_and_join(topic, {})
      assert.truthy(s, topic .. " should join, got " .. tostring(reply))
    end
  end)

  it("refuses other numbers with an empty error reply", function()
    for _, topic in ipairs({ "wild:1:3", "wild:2:1", "wild:1", "wild:1:2:4" }) do
      local s, reply, status = ct.subscribe_and_join(topic, {})
      assert.falsy(s, topic .. " should be refused")
      assert.equal("error", status)
      assert.same({}, reply)
    end
  end)

  it("refuses non-integers", function()
    for _, topic in ipairs({ "wild:abc:def", "wild:1.5:3", "wild::", "wild:", "wild:1:2x" }) do
      local s, reply = ct.subscribe_and_join(topic, {})
      assert.falsy(s, topic .. " should be refused")
      assert.same({}, reply)
    end
  end)

  it("answers ping with pong", function()
    local s = ct.subscribe_and_join("wild:1:2", {})
    ct.assert_reply(s:push("ping", {}), "ok", { ping = "pong" })
  end)

  it("crashes on any other event", function()
    local s = ct.subscribe_and_join("wild:1:2", {})
    local ref = s:push("pong", {})
    ct.assert_push(s, "phx_error")
    ct.refute_reply(ref)
  end)
end)
