/**
 * A MapLibre popup for the selected machine, its content rendered by React into the popup's DOM
 * node (a portal), so it follows live updates and needs no glyphs.
 */
import { Popup } from 'maplibre-gl';
import { useEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import type { MachineFeature } from '../../../shared/map.ts';
import { MachineCard } from './MachineCard.tsx';
import { isMapAlive, useMap } from './MapView.tsx';

export interface MachinePopupProps {
  /** The selected machine; undefined closes the popup. */
  machine: MachineFeature | undefined;
  /** The user closed the popup. */
  onClose: () => void;
}

export function MachinePopup({ machine, onClose }: MachinePopupProps) {
  const map = useMap();
  const [content] = useState(() => document.createElement('div'));
  const [popup, setPopup] = useState<Popup | null>(null);
  const onCloseRef = useRef(onClose);
  useEffect(() => {
    onCloseRef.current = onClose;
  });

  const open = machine !== undefined;
  useEffect(() => {
    if (!open) return;
    // Clicks on the map select or deselect in MachinesLayer; the popup only closes by its button.
    const p = new Popup({ closeOnClick: false, maxWidth: '300px', offset: 12, focusAfterOpen: false });
    p.setDOMContent(content);
    const handleClose = () => onCloseRef.current();
    p.on('close', handleClose);
    setPopup(p);
    return () => {
      setPopup(null);
      p.off('close', handleClose);
      if (isMapAlive(map)) p.remove();
    };
  }, [map, open, content]);

  const [lon, lat] = machine?.geometry.coordinates ?? [];
  useEffect(() => {
    if (popup === null || lon === undefined || lat === undefined) return;
    popup.setLngLat([lon, lat]);
    if (!popup.isOpen()) popup.addTo(map);
  }, [map, popup, lon, lat]);

  return machine === undefined ? null : createPortal(<MachineCard machine={machine.properties} />, content);
}
