-- RecurringChannel from "Real-Time Phoenix" (recurring_channel.ex): every 5 s it pushes "new_token"
-- with a fresh token for the socket's user, so a client can reconnect after the old one expires.
local channel = { topic = "recurring" }

local FIVE_SECONDS = 5000

local function schedule_refresh(socket)
  phx.send_after(socket, FIVE_SECONDS, "refresh")
end

function channel.join(topic, payload, socket)
  schedule_refresh(socket)
  return phx.ok()
end

function channel.handle_info(msg, socket)
  if msg == "refresh" then
    schedule_refresh(socket)
    phx.push(socket, "new_token", { token = phx.token.sign("salt identifier", socket.assigns.user_id) })
  end
  return phx.noreply()
end

return channel
