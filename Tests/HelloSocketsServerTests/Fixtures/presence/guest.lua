-- Tracks its member on a room's topic from another topic (hot reload deletes this file in a test).
local channel = { topic = "guest:*" }

function channel.join(topic, payload, socket)
  socket.assigns.user = payload.user
  phx.send_after(socket, 0, "after_join")
  return phx.ok()
end

function channel.handle_info(msg, socket)
  phx.presence.track(socket, socket.assigns.user, { guest = true }, "room:" .. socket.topic:sub(7))
end

return channel
