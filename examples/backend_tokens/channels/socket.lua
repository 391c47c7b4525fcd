-- A socket for users your backend vouched for. The backend (a Phoenix app, or any web app: backend.py stands in
-- for one) puts a token in the page, and the page connects with it:
--
--   /socket/websocket?vsn=2.0.0&token=<Phoenix.Token>   Phoenix.Token.sign(endpoint, "user socket", user_id),
--                                                        verified with the shared secret_key_base
--   /socket/websocket?vsn=2.0.0&jwt=<JWT>               a JWT whose sub is the user, issued by "example-backend"
--                                                        for "hello-sockets": HS256 with --jwt-secret, or
--                                                        RS256/ES256 with a key of --jwt-jwks
--
-- Anything else is refused with HTTP 403, and the log says why.
local socket = {}

local SALT = "user socket"
local JWT_RULES = { iss = "example-backend", aud = "hello-sockets", leeway_s = 30 }

function socket.connect(params, connect_info)
  if params.token ~= nil then
    -- No max age given: the token's own applies (Phoenix.Token.sign's max_age, a day by default).
    local user_id, reason = phx.token.verify(SALT, params.token)
    if user_id == nil then
      print("refused a Phoenix.Token: " .. reason)
      return phx.error()
    end
    return phx.ok({ user_id = tostring(user_id), via = "phoenix" })
  end
  if params.jwt ~= nil then
    local claims, reason = phx.jwt.verify(params.jwt, JWT_RULES)
    if claims == nil then
      print("refused a JWT: " .. reason)
      return phx.error()
    end
    if type(claims.sub) ~= "string" then
      print("refused a JWT without a sub")
      return phx.error()
    end
    return phx.ok({ user_id = claims.sub, via = "jwt" })
  end
  print("refused a connection without token or jwt")
  return phx.error()
end

-- broadcast("user_socket:<id>", "disconnect", {}) closes that user's sockets.
function socket.id(s)
  return "user_socket:" .. s.assigns.user_id
end

return socket
