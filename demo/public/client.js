// The demo page's script: plain browser JavaScript, no build step.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const log = $('log');
  let socket = null;

  function show(text, kind) {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = text.length > 200 ? text.slice(0, 200) + '… (' + text.length + ' characters)' : text;
    log.prepend(li);
    while (log.children.length > 50) log.lastChild.remove();
  }

  function hex(bytes) {
    return Array.from(bytes.slice(0, 16), (b) => b.toString(16).padStart(2, '0')).join(' ') + (bytes.length > 16 ? ' …' : '');
  }

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = 'status ' + cls;
    const open = cls === 'connected';
    $('send').disabled = !open;
    $('binary').disabled = !open;
    $('toggle').textContent = open || cls === '' ? 'Close' : 'Reconnect';
  }

  // The server echoes what it receives unchanged; its own messages are JSON with a "type".
  function serverMessage(data) {
    if (typeof data !== 'string' || data[0] !== '{') return null;
    try {
      const msg = JSON.parse(data);
      return msg && msg.type === 'clock' ? msg : null;
    } catch {
      return null;
    }
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    window.demoSocket = socket; // handy in the console (and for the end-to-end test)
    setStatus('connecting…', '');

    socket.addEventListener('open', () => {
      setStatus('connected', 'connected');
      $('ext').textContent = socket.extensions ? 'extensions: ' + socket.extensions : 'no compression';
    });
    socket.addEventListener('message', (event) => {
      if (event.data instanceof ArrayBuffer) {
        const bytes = new Uint8Array(event.data);
        return show('← binary echo, ' + bytes.length + ' bytes: ' + hex(bytes), 'in');
      }
      const clock = serverMessage(event.data);
      if (clock && clock.transport) {
        // The server's first push says how this socket travels.
        $('transport').textContent = clock.transport === 'h2' ? 'over HTTP/2 (RFC 8441 stream)' : 'over HTTP/1.1 (upgrade)';
      }
      if (clock) {
        $('clock').textContent = new Date(clock.now).toLocaleTimeString() + '  ·  ' + clock.clients + ' connected';
        return;
      }
      show('← ' + event.data, 'in');
    });
    socket.addEventListener('close', (event) => {
      setStatus('closed', 'closed');
      show('closed: code ' + event.code + (event.reason ? ', ' + event.reason : ''), 'info');
    });
  }

  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('message').value;
    if (!socket || socket.readyState !== WebSocket.OPEN || text === '') return;
    socket.send(text);
    show('→ ' + text, 'out');
  });

  $('binary').addEventListener('click', () => {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    socket.send(bytes);
    show('→ binary, 8 bytes: ' + hex(bytes), 'out');
  });

  $('toggle').addEventListener('click', () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000, 'closed by the user');
    else if (!socket || socket.readyState === WebSocket.CLOSED) connect();
  });

  connect();
})();
