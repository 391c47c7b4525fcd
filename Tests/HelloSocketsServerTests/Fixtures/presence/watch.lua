-- Intercepts presence_diff: each diff reaches handle_out, which passes it on as "seen_diff".
local channel = { topic = "watch:*", intercept = { "presence_diff" } }

function channel.join(topic, payload, socket)
  socket.assigns.user = payload.user
  phx.send_after(socket, 0, "after_join")
  return phx.ok()
end

function channel.handle_info(msg, socket)
  phx.presence.track(socket, socket.assigns.user, {})
  phx.push(socket, "presence_state", phx.presence.list(socket))
end

function channel.handle_out(event, payload, socket)
  phx.push(socket, "seen_diff", payload)
end

return channel
