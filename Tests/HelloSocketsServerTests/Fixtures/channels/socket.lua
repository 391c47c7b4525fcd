-- The connect rule of the test socket: a "nope" token is refused; the user param names the socket;
-- the transport (connect_info) is kept in the assigns.
local socket = {}

function socket.connect(params, connect_info)
  if params.token == "nope" then return phx.error({ reason = "bad token" }) end
  return phx.ok({ user = params.user, transport = connect_info.transport })
end

function socket.id(socket)
  if socket.assigns.user then return "user_socket:" .. socket.assigns.user end
  return nil
end

return socket
