// The webview's HTML shell: CSP `default-src 'none'` with a nonce for the one script, the stylesheet from the
// extension's dist/webview folder, and nothing else. All content is rendered by the script as text.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export function nonce(): string {
	return randomBytes(16).toString('base64');
}

export function detailsHtml(webview: vscode.Webview, extensionUri: vscode.Uri, title: string): string {
	const assets = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
	const script = webview.asWebviewUri(vscode.Uri.joinPath(assets, 'details.js'));
	const style = webview.asWebviewUri(vscode.Uri.joinPath(assets, 'details.css'));
	const n = nonce();
	const csp = [
		"default-src 'none'",
		`style-src ${webview.cspSource}`,
		`script-src 'nonce-${n}'`,
		`img-src ${webview.cspSource} data:`,
		`font-src ${webview.cspSource}`,
	].join('; ');
	const safeTitle = title.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
	return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>${safeTitle}</title>
</head>
<body>
<main id="root" aria-live="polite"><p class="muted">Loading…</p></main>
<script nonce="${n}" src="${script.toString()}"></script>
</body>
</html>`;
}
