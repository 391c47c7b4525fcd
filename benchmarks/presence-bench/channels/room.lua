-- The benchmark's room, as the Phoenix guide writes one (RoomChannel + Presence): join "room:<name>" with
-- {"user": name}; right after the join the channel tracks the user and pushes the room's presence_state.
local channel = { topic = "room:*" }

function channel.join(topic, payload, socket)
  socket.assigns.user = payload.user
  phx.send_after(socket, 0, "after_join")
  return phx.ok()
end

function channel.handle_info(msg, socket)
  if msg == "after_join" then
    phx.presence.track(socket, socket.assigns.user, { online_at = os.time() })
    phx.push(socket, "presence_state", phx.presence.list(socket))
  end
end

return channel
