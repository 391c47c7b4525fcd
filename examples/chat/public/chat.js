// The chat page: connects to /socket, joins "room:<room>" with a name, sends "new_msg", shows every message,
// and keeps who is here with Phoenix.Presence (examples/chat/channels/room.lua tracks each member; typing is a
// presence update).
"use strict";

const $ = (id) => document.getElementById(id);
let channel = null;
let presence = null;
let typing = false;
let typingTimer = null;

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
  typing = false;

  // Broadcasts from the room: everyone's messages (ours too).
  channel.on("new_msg", ({ user, body }) => addMessage(`${user}: ${body}`));
  // Who is here: presence_state after the join, presence_diff whenever someone comes, goes or types.
  presence = new Phoenix.Presence(channel);
  presence.onSync(renderMembers);

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
    .receive("ok", () => { input.value = ""; setTyping(false); })
    .receive("error", ({ reason }) => addMessage(`(not sent: ${reason})`));
});

// "Is typing": on while the box has text and keys were pressed in the last 3 s.
$("body").addEventListener("input", () => {
  setTyping($("body").value.trim() !== "");
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => setTyping(false), 3000);
});

function setTyping(now) {
  if (!channel || now === typing) return;
  typing = now;
  channel.push("typing", { typing: now });
}

// One line per member (a member with two tabs has two metas): typing if any of its metas says so.
function renderMembers() {
  const members = presence.list((name, { metas }) => ({ name, typing: metas.some((meta) => meta.typing), tabs: metas.length }));
  members.sort((a, b) => a.name.localeCompare(b.name));
  $("users").replaceChildren(...members.map(({ name, typing, tabs }) => {
    const li = item(typing ? `${name} is typing…` : name);
    li.dataset.name = name;
    li.dataset.typing = String(typing);
    if (tabs > 1) li.title = `${tabs} tabs`;
    return li;
  }));
}

function setStatus(text) { $("status").textContent = text; }

function item(text) {
  const li = document.createElement("li");
  li.textContent = text;  // textContent, never innerHTML: names and messages are untrusted
  return li;
}

function addMessage(text) {
  const list = $("messages");
  list.append(item(text));
  list.scrollTop = list.scrollHeight;
}
