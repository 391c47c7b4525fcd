// The chat page: connects to /socket, joins "room:<room>" with a name, sends "new_msg",
// and shows every "new_msg" and "presence" the channel (examples/chat/channels/room.lua) pushes.
"use strict";

const $ = (id) => document.getElementById(id);
let channel = null;

// One socket per page; phoenix-client.js reconnects (and rejoins) by itself.
const socket = new Phoenix.Socket("/socket", { params: {} });
socket.onOpen(() => setStatus(channel ? `Connected, in ${channel.topic}.` : "Connected."));
socket.onClose(() => setStatus("Disconnected; reconnecting…"));
socket.connect();

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (channel) channel.leave();  // switching rooms
  const name = $("name").value.trim();
  const topic = `room:${$("room").value.trim()}`;
  channel = socket.channel(topic, { name });

  // Broadcasts from the room: everyone's messages (ours too), and who is here.
  channel.on("new_msg", ({ user, body }) => addMessage(`${user}: ${body}`));
  channel.on("presence", ({ users }) => {
    $("users").replaceChildren(...users.map((user) => item(user)));
  });

  channel.join()
    .receive("ok", ({ messages }) => {
      setStatus(`Joined ${topic} as ${name}.`);
      $("messages").replaceChildren();
      // The room's last messages (kept by the server in phx.kv) come with the join reply.
      for (const { user, body } of messages || []) addMessage(`${user}: ${body}`);
      $("chat").hidden = false;
      $("body").focus();
    })
    .receive("error", ({ reason }) => setStatus(`Could not join: ${reason}`))
    .receive("timeout", () => setStatus("The server did not answer; still trying…"));
});

$("message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("body");
  channel.push("new_msg", { body: input.value })
    .receive("ok", () => { input.value = ""; })
    .receive("error", ({ reason }) => addMessage(`(not sent: ${reason})`));
});

function setStatus(text) { $("status").textContent = text; }

function item(text) {
  const li = document.createElement("li");
  li.textContent = text;  // textContent, never innerHTML: messages are untrusted
  return li;
}

function addMessage(text) {
  const list = $("messages");
  list.append(item(text));
  list.scrollTop = list.scrollHeight;
}
