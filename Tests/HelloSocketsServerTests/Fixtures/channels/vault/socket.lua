-- A second socket at /vault: only the token "open-sesame" gets in.
local socket = {}

function socket.connect(params, connect_info)
  if params.token ~= "open-sesame" then return phx.error() end
  return phx.ok()
end

return socket
