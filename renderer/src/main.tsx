import { createRoot } from 'react-dom/client';
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { App } from './App.js';
import { connectLive } from './live.js';

connectLive();
createRoot(document.getElementById('root')!).render(<App />);
