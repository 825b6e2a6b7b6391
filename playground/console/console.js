// The console's only script: the partner feed's live rows, from the node's own server-sent
// events (no other origin, no library). Every value is set as text, never as HTML.
'use strict';
(() => {
  const table = document.getElementById('arrivals');
  if (!table || !window.EventSource) return;
  const body = table.querySelector('tbody');
  const arrived = document.getElementById('arrived');
  let count = 0;
  const cell = (row, content) => {
    const td = document.createElement('td');
    if (typeof content === 'string') td.textContent = content;
    else td.appendChild(content);
    row.appendChild(td);
  };
  const source = new EventSource('/console/partners/events');
  source.addEventListener('arrival', (message) => {
    const a = JSON.parse(message.data);
    const row = document.createElement('tr');
    row.className = 'new';
    cell(row, a.at);
    cell(row, a.partner);
    const link = document.createElement('a');
    link.href = a.href;
    link.textContent = a.number;
    cell(row, link);
    cell(row, a.operator);
    cell(row, a.tin);
    const status = document.createElement('span');
    status.className = `status status-${a.statusCode}`;
    status.textContent = a.status;
    cell(row, status);
    body.prepend(row);
    table.hidden = false;
    const nothing = document.getElementById('nothing-yet');
    if (nothing) nothing.remove();
    count += 1;
    arrived.textContent = `${document.documentElement.lang === 'es' ? 'Nuevos' : 'New'}: ${count}`;
  });
})();

// The verifier's check: a file chosen is read into the text box (nothing leaves the page
// until the form is sent).
(() => {
  const file = document.getElementById('document-file');
  const text = document.getElementById('document');
  if (!file || !text) return;
  file.addEventListener('change', async () => {
    if (file.files.length) text.value = await file.files[0].text();
  });
})();
