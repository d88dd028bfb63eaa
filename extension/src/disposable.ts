// Lifecycle base: everything a long-lived object registers is disposed with it.
import type * as vscode from 'vscode';

export class Disposable implements vscode.Disposable {
	private readonly disposables: vscode.Disposable[] = [];
	private disposed = false;

	protected _register<T extends vscode.Disposable>(d: T): T {
		if (this.disposed) d.dispose();
		else this.disposables.push(d);
		return d;
	}

	dispose(): void {
		if (this.disposed) return;
		this.disposed = true;
		for (const d of this.disposables.splice(0).reverse()) {
			try {
				d.dispose();
			} catch {
				// one failing dispose must not keep the others alive
			}
		}
	}
}
