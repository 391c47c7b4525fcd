-- AuthSocket from "Real-Time Phoenix" (lib/hello_sockets_web/channels/auth_socket.ex), served at
-- /auth_socket: connecting needs a `token` param signed with the salt "salt identifier" (at most one
-- day old). Tokens are Phoenix.Token's: the book's Phoenix app, given the same secret_key_base, signs
-- them with `Phoenix.Token.sign(HelloSocketsWeb.Endpoint, "salt identifier", user.id)`; here they come
-- from `hello-sockets token sign 'salt identifier' 1` or phx.token.sign in a channel.
-- A missing or bad token refuses the connection with HTTP 403.
local socket = {}

local ONE_DAY = 86400

function socket.connect(params, connect_info)
  if params.token == nil then
    print("AuthSocket connect error missing params")
    return phx.error()
  end
  local user_id, err = phx.token.verify("salt identifier", params.token, ONE_DAY)
  if user_id == nil then
    print("AuthSocket connect error " .. err)
    return phx.error()
  end
  return phx.ok({ user_id = user_id })
end

-- broadcast("auth_socket:<user_id>", "disconnect", {}) closes every socket of that user.
function socket.id(s)
  return "auth_socket:" .. tostring(s.assigns.user_id)
end

return socket
