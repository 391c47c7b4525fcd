-- Run with: hello-sockets test examples/backend_tokens/channels
-- The spec runner has no JWT keys, so JWTs are all refused here; the Swift test
-- (BackendTokensExampleTests) connects with tokens from backend.py to a server that has them.
local SALT = "user socket"

local function phoenix_socket(data, opts)
  return ct.socket({ params = { token = phx.token.sign(SALT, data, opts) } })
end

describe("connecting with a Phoenix.Token", function()
  it("lets the user in and joins their own topic", function()
    local ch = phoenix_socket(42):subscribe_and_join("user:42", {})
    assert.same({ user_id = "42", via = "phoenix" }, ch.join_reply)
  end)

  it("accepts a string user id", function()
    local ch = phoenix_socket("u-9"):subscribe_and_join("user:u-9", {})
    assert.truthy(ch)
  end)

  it("refuses another user's topic", function()
    local ch, reply, status = phoenix_socket(42):subscribe_and_join("user:7", {})
    assert.falsy(ch)
    assert.same({ reason = "unauthorized" }, reply)
  end)

  it("refuses a token for another salt, a tampered one, and an expired one", function()
    local other = phx.token.sign("another salt", 42)
    assert.error_matches(function() ct.socket({ params = { token = other } }) end, "connect refused")
    local tampered = phx.token.sign(SALT, 42) .. "x"
    assert.error_matches(function() ct.socket({ params = { token = tampered } }) end, "connect refused")
    -- Signed an hour ago, valid for a minute: the token's own max age applies.
    assert.error_matches(function() phoenix_socket(42, { signed_at = os.time() - 3600, max_age = 60 }) end,
      "connect refused")
  end)
end)

describe("connecting with a JWT", function()
  it("refuses a JWT it has no key for", function()
    local unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9."   -- {"alg":"none"} {"sub":"42"}
    assert.error_matches(function() ct.socket({ params = { jwt = unsigned } }) end, "connect refused")
  end)
end)

it("refuses a connection without a token", function()
  assert.error_matches(function() ct.socket({ params = {} }) end, "connect refused")
end)
