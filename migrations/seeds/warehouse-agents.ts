/**
 * The default warehouse agents and their playbooks, seeded by migration 0002. The playbook
 * provider answers only from these entries, so they are written as a shift lead would say them.
 */
export interface SeedKnowledgeEntry {
  id: string;
  title: string;
  content: string;
  tags: string[];
}

export interface SeedAgent {
  key: string;
  name: string;
  description: string;
  allowedRoles: string[];
  defaultForRoles: string[];
  systemPrompt: string;
  knowledgeBase: SeedKnowledgeEntry[];
}

const entry = (id: string, title: string, tags: string, content: string): SeedKnowledgeEntry => ({
  id,
  title,
  content,
  tags: tags.split(' '),
});

export const PICKING_ASSISTANT: SeedAgent = {
  key: 'picking-assistant',
  name: 'Picking & packing assistant',
  description: 'Helps warehouse operators with picking, packing, scanning exceptions and floor safety.',
  allowedRoles: ['warehouse_operator', 'supervisor'],
  defaultForRoles: ['warehouse_operator'],
  systemPrompt:
    'You are the picking and packing assistant of a warehouse management system. Answer warehouse operators briefly and concretely, ' +
    'step by step, following site procedures. Put safety first. When unsure, tell the operator to call their shift supervisor.',
  knowledgeBase: [
    entry(
      'pick-01',
      'Starting a pick wave',
      'pick wave start rf scanner',
      'Log in on the RF scanner, choose Picking, then Start Wave. Scan your cart label before the first location so every tote is linked to the cart. Pick in the order the scanner shows: the path is optimised for the wave.',
    ),
    entry(
      'pick-02',
      'Short pick (not enough stock at the location)',
      'short pick shortage empty location stock',
      'Pick what is there, then press Short on the scanner and enter the quantity actually picked. Do not take stock from another location unless the scanner offers an alternative location. The short creates a replenishment or cycle count task automatically.',
    ),
    entry(
      'pick-03',
      'Wrong item at the location',
      'wrong item mismatch sku barcode',
      'Do not pick it. Press Exception, choose Wrong Item, and scan the item you found. Leave it in place and continue with the next line; inventory control will correct the location.',
    ),
    entry(
      'pick-04',
      'Damaged item found while picking',
      'damaged item broken quarantine',
      'Never ship a damaged unit. Press Exception, choose Damaged, put the unit in the red quarantine tote at the end of the aisle and pick a good unit if the location has one. Report broken glass or leaking liquids to your supervisor at once.',
    ),
    entry(
      'pick-05',
      'Barcode will not scan',
      'barcode scan unreadable label',
      'Clean the scanner window and try again at 15 to 30 cm. If it still fails, key in the SKU or location code by hand using Manual Entry, and report the bad label with Exception, Label Damaged so it gets reprinted.',
    ),
    entry(
      'pick-06',
      'Picking into the right tote',
      'tote cart slot wrong tote',
      'Always scan the tote slot the scanner asks for before dropping the item. If you dropped an item into the wrong tote, take it out, press Undo Last Pick, and pick it again into the right slot.',
    ),
    entry(
      'pick-07',
      'Lot and expiry control (FEFO)',
      'lot expiry fefo batch date',
      'For lot-controlled items pick the lot the scanner shows, which is the one expiring first. If that lot is not at the location, press Exception, Lot Not Found: never substitute another lot yourself.',
    ),
    entry(
      'pick-08',
      'Serial numbers',
      'serial number capture electronics',
      'For serial-tracked items the scanner asks for each serial number. Scan the serial barcode, not the product barcode. Every unit must have its own serial scanned before the line can close.',
    ),
    entry(
      'pick-09',
      'Packing station checklist',
      'pack packing station carton',
      'Scan the tote, check every item against the packing list on screen, choose the carton size the system suggests, add void fill so nothing moves, then print and apply the shipping label on the largest flat side.',
    ),
    entry(
      'pick-10',
      'Choosing the carton size',
      'carton box size cubing',
      'Use the carton the system suggests; it is calculated from item dimensions. If the items do not fit, choose the next size up and press Carton Override so the cubing data gets corrected.',
    ),
    entry(
      'pick-11',
      'Packing fragile items',
      'fragile glass packing bubble wrap',
      'Wrap fragile items individually in bubble wrap, keep at least 5 cm of cushioning to every side of the carton, and apply the Fragile label next to the shipping label.',
    ),
    entry(
      'pick-12',
      'Shipping label will not print',
      'label printer print shipping',
      'Check the printer has labels and ribbon and shows Ready. Press Reprint Label on the packing screen. If the printer is offline, switch to the backup printer in Settings, Printer, and tell your supervisor.',
    ),
    entry(
      'pick-13',
      'Order missing an item at packing',
      'missing item packing short shipment',
      'Do not close the carton. Press Missing Item, scan the tote, and put the tote on the problem shelf. The problem solver will find the item or release a partial shipment.',
    ),
    entry(
      'pick-14',
      'Hazardous materials (dangerous goods)',
      'hazmat dangerous goods battery aerosol',
      'Items flagged as dangerous goods (lithium batteries, aerosols, flammables) go only in the carton type the screen shows and need the hazard label it prints. Never pack them with food. Only trained staff may pack class 3 flammables.',
    ),
    entry(
      'pick-15',
      'Manual handling and lifting',
      'safety lifting heavy manual handling',
      'Lift with your legs, keep the load close, and do not twist. Anything over 23 kg is a two-person lift or needs a lifting aid. Use the step ladder for top shelves; never climb racking.',
    ),
    entry(
      'pick-16',
      'Forklift and pedestrian safety',
      'safety forklift pedestrian aisle',
      'Walk only in marked pedestrian lanes, wear your high-visibility vest, and make eye contact with forklift drivers before crossing. Never walk under a raised load.',
    ),
    entry(
      'pick-17',
      'Spill or broken product on the floor',
      'spill broken floor safety clean',
      'Stop, put a wet-floor sign or cone next to the spill, and call your supervisor. Do not clean chemicals yourself unless you are trained and have the spill kit.',
    ),
    entry(
      'pick-18',
      'Scanner battery low',
      'battery scanner charge rf',
      'Finish the current pick line, then swap the battery at the charging station. Your wave stays assigned to you for 15 minutes while you swap.',
    ),
    entry(
      'pick-19',
      'Pick rate and quality targets',
      'kpi pick rate productivity accuracy',
      'Typical targets are 120 lines per hour for each picking and 99.8% pick accuracy. Accuracy matters more than speed: one mis-pick costs more than ten minutes of picking.',
    ),
    entry(
      'pick-20',
      'End of shift handover',
      'end shift handover unfinished wave',
      'Finish or release your current tote, press Release Wave so unfinished lines go back to the pool, put the scanner on charge, and tell the next shift about open exceptions.',
    ),
    entry(
      'pick-21',
      'Urgent and priority orders',
      'priority urgent same day express',
      'Waves marked Priority or Same Day must be picked first and taken straight to the express packing lane. If you cannot finish one before the cutoff shown on the scanner, tell your supervisor immediately.',
    ),
  ],
};

export const INVENTORY_ASSISTANT: SeedAgent = {
  key: 'inventory-assistant',
  name: 'Inventory & replenishment assistant',
  description: 'Helps inventory managers with counts, adjustments, replenishment, slotting and stock accuracy.',
  allowedRoles: ['inventory_manager', 'supervisor'],
  defaultForRoles: ['inventory_manager'],
  systemPrompt:
    'You are the inventory and replenishment assistant of a warehouse management system. Help inventory managers keep stock accurate: ' +
    'counts, adjustments, replenishment and slotting. Be precise about quantities, approvals and audit trails.',
  knowledgeBase: [
    entry(
      'inv-01',
      'Cycle count program',
      'cycle count abc schedule',
      'Count A items (top 20% of movement) monthly, B items quarterly and C items twice a year. The WMS generates the daily cycle count tasks from this ABC schedule; complete them before the afternoon wave starts.',
    ),
    entry(
      'inv-02',
      'Blind counts',
      'blind count counting procedure',
      'Counters must not see the expected quantity. Count every unit at the location, enter the total, and let the system compare. This avoids confirmation bias.',
    ),
    entry(
      'inv-03',
      'Count variance above tolerance',
      'variance discrepancy recount tolerance',
      'If a count differs from the system by more than 2% or 50 currency units, the WMS creates a recount by a different counter. Only after two matching counts may the variance be adjusted.',
    ),
    entry(
      'inv-04',
      'Inventory adjustments and approvals',
      'adjustment approval write off',
      'Every adjustment needs a reason code (count variance, damage, found stock, expiry). Adjustments above 500 currency units need inventory manager approval; above 5,000 they need the site manager.',
    ),
    entry(
      'inv-05',
      'Min/max replenishment',
      'replenishment min max pick face',
      'Pick faces are refilled from reserve when stock falls to the minimum; the task brings them to the maximum. Set the minimum to cover at least one wave of demand plus the replenishment lead time.',
    ),
    entry(
      'inv-06',
      'Emergency replenishment',
      'emergency replenishment short pick urgent',
      'A short pick at a pick face triggers an emergency replenishment with top priority. Reach truck drivers should complete it within 15 minutes; check the replenishment monitor for overdue tasks.',
    ),
    entry(
      'inv-07',
      'Slotting by velocity',
      'slotting velocity golden zone',
      'Put the fastest movers in the golden zone (waist to shoulder height, near the dispatch end). Re-slot every quarter or when a product moves between ABC classes.',
    ),
    entry(
      'inv-08',
      'Receiving against a purchase order',
      'receiving inbound purchase order asn',
      'Scan the ASN or purchase order, count and check each line, and record over-deliveries, short deliveries and damage on the receipt. Stock is not available for picking until the receipt is closed and put away.',
    ),
    entry(
      'inv-09',
      'Putaway',
      'putaway directed location reserve',
      'Follow the directed putaway location on the scanner and scan the location to confirm. If the location is full or blocked, press Location Full and the system proposes the next one.',
    ),
    entry(
      'inv-10',
      'Quarantine and quality hold',
      'quarantine hold quality blocked stock',
      'Stock on quality hold is blocked for picking. Move it to the quarantine area and set the hold status with a reason; only quality assurance may release it.',
    ),
    entry(
      'inv-11',
      'Expiry management (FEFO)',
      'expiry fefo shelf life',
      'Lot-controlled products are allocated first-expired-first-out. Run the near-expiry report weekly; stock within its minimum remaining shelf life for customers must be moved to clearance or written off.',
    ),
    entry(
      'inv-12',
      'Damaged stock',
      'damaged stock write off returns',
      'Damaged units go to the damage cage with a damage reason. Decide weekly: return to vendor, repack, sell as B-stock, or write off with approval.',
    ),
    entry(
      'inv-13',
      'Stock transfers between sites',
      'transfer inter site shipment',
      'Create a transfer order; the sending site picks and ships it, and the stock is in transit until the receiving site receives it. Check the in-transit report for transfers older than five days.',
    ),
    entry(
      'inv-14',
      'Inventory accuracy KPI',
      'kpi accuracy inventory record',
      'Inventory record accuracy is the share of counted locations whose quantity matched within tolerance. The target is 99.5% or better; below 98% start a root-cause review.',
    ),
    entry(
      'inv-15',
      'Stock-out and fill rate',
      'kpi stockout fill rate',
      'Fill rate is the share of order lines shipped complete from stock. Target 98%. Investigate repeated stock-outs for the same SKU: wrong minimum, late supplier, or inaccurate stock.',
    ),
    entry(
      'inv-16',
      'Negative or phantom stock',
      'negative stock phantom inventory',
      'Negative stock means a transaction was recorded without physical stock. Freeze the location, count it, and trace the last transactions before adjusting.',
    ),
    entry(
      'inv-17',
      'Annual wall-to-wall inventory',
      'annual stocktake physical inventory',
      'Freeze movements, print count sheets by zone, count in teams of two, and recount variances before posting. Cycle counting with 99.5% accuracy can replace the annual count where auditors agree.',
    ),
    entry(
      'inv-18',
      'Returns processing',
      'returns rma customer return',
      'Check the RMA, inspect each unit, and grade it: A back to stock, B repack, C damage. Restock only A-grade items and always scan them to a location.',
    ),
    entry(
      'inv-19',
      'Safety stock',
      'safety stock buffer demand variability',
      'Safety stock covers demand and lead-time variability. A common rule: service factor times the standard deviation of demand over the lead time. Review it when supplier lead times change.',
    ),
    entry(
      'inv-20',
      'Dead stock',
      'dead stock obsolete slow moving',
      'Items without movement for 180 days are dead stock. Report them monthly to purchasing for return, discount or disposal, and move them out of prime locations.',
    ),
    entry(
      'inv-21',
      'Unit of measure and pack sizes',
      'unit of measure pack case pallet conversion',
      'Always check the unit of measure on the screen: each, inner pack, case or pallet. Counting cases where the system expects eaches is the most common cause of large variances.',
    ),
  ],
};

export const OPERATIONS_ASSISTANT: SeedAgent = {
  key: 'operations-assistant',
  name: 'Operations & KPI assistant',
  description: 'Helps supervisors plan shifts, follow KPIs, manage exceptions, dock schedules and safety.',
  allowedRoles: ['supervisor'],
  defaultForRoles: ['supervisor'],
  systemPrompt:
    'You are the operations assistant of a warehouse management system. Help shift supervisors plan labour, follow KPIs and handle ' +
    'exceptions and incidents. Be direct, cite the figures that matter and suggest the next action.',
  knowledgeBase: [
    entry(
      'ops-01',
      'Shift start briefing',
      'shift briefing start huddle',
      'Run a 10-minute huddle: yesterday’s KPIs, today’s order volume and cutoffs, safety topic of the day, and who covers which zone. Check that every operator has a working scanner.',
    ),
    entry(
      'ops-02',
      'Labour planning',
      'labour planning headcount staffing',
      'Headcount per process = expected volume divided by the standard rate times productive hours. Example: 12,000 lines at 120 lines per hour over 7 productive hours needs about 15 pickers.',
    ),
    entry(
      'ops-03',
      'Carrier cutoffs',
      'cutoff carrier dispatch late orders',
      'Work back from each carrier cutoff: packing must finish 30 minutes before, picking 60 minutes before. Release waves for the earliest cutoff first and watch the cutoff monitor hourly.',
    ),
    entry(
      'ops-04',
      'Orders at risk of missing cutoff',
      'late orders risk sla',
      'Move pickers from non-urgent zones, split big waves, and open the express packing lane. If orders will still miss, tell customer service before the cutoff, not after.',
    ),
    entry(
      'ops-05',
      'On-time shipping KPI',
      'kpi on time shipping sla',
      'On-time shipping is the share of orders shipped by their promised time. The target is 99%. Break misses down by cause: stock, labour, system or carrier.',
    ),
    entry(
      'ops-06',
      'Order accuracy KPI',
      'kpi order accuracy mispick',
      'Order accuracy is the share of orders delivered without a picking or packing error. The target is 99.8%. Review mis-pick exceptions daily with the operators involved.',
    ),
    entry(
      'ops-07',
      'Dock to stock time',
      'kpi dock to stock receiving',
      'Dock-to-stock time runs from truck arrival to stock available for picking. Target under 24 hours, under 4 hours for urgent purchase orders.',
    ),
    entry(
      'ops-08',
      'Dock scheduling',
      'dock door appointment yard',
      'Book inbound trucks into appointment slots; keep one door free each hour for late or urgent arrivals. Trucks without an appointment wait in the yard until a slot opens.',
    ),
    entry(
      'ops-09',
      'Units per hour and utilisation',
      'kpi productivity units per hour utilisation',
      'Track units per hour by process and by person against the engineered standard. Utilisation below 85% usually means waiting for work: check wave release timing.',
    ),
    entry(
      'ops-10',
      'Accident or near miss',
      'safety incident accident near miss report',
      'Make the area safe, give first aid, call emergency services if needed, then report the incident in the safety system within the shift. Report near misses too: they prevent the next accident.',
    ),
    entry(
      'ops-11',
      'Forklift pre-use checks',
      'forklift mhe pre use check safety',
      'Every forklift gets a pre-use check each shift: brakes, horn, lights, forks, hydraulics and battery. A failed check takes the truck out of service with a red tag until maintenance clears it.',
    ),
    entry(
      'ops-12',
      'Fire alarm and evacuation',
      'fire alarm evacuation assembly point',
      'Stop work, leave by the nearest exit without collecting belongings, and go to the assembly point. Supervisors take the roll call from the shift attendance list.',
    ),
    entry(
      'ops-13',
      'System outage (WMS or scanners down)',
      'outage downtime system down paper',
      'Switch to the paper backup: print the pick lists prepared every hour, pick on paper and keep the sheets for data entry once the system is back. Call IT on the 24/7 line.',
    ),
    entry(
      'ops-14',
      'Absenteeism and overtime',
      'absence overtime staffing gap',
      'Cover absences by moving cross-trained staff first, then agency staff, then overtime. Overtime needs operations manager approval above 10% of planned hours.',
    ),
    entry(
      'ops-15',
      'Cross-training matrix',
      'training skills matrix cross training',
      'Keep a skills matrix of who is trained for which process and equipment. Aim for every process to have at least three trained people per shift.',
    ),
    entry(
      'ops-16',
      'Peak season preparation',
      'peak season readiness volume',
      'Six weeks before peak: confirm temporary staff and training, re-slot fast movers, service all equipment and agree extra carrier collections.',
    ),
    entry(
      'ops-17',
      'Cost per order',
      'kpi cost per order labour cost',
      'Cost per order is total warehouse operating cost divided by orders shipped. Labour is usually 50 to 70% of it, so productivity improvements show here first.',
    ),
    entry(
      'ops-18',
      'Escalating a carrier problem',
      'carrier missed collection escalation',
      'If a carrier misses a collection, call their depot, log the time and the orders affected, and book a backup carrier for urgent orders. Send the incident to the transport manager.',
    ),
    entry(
      'ops-19',
      '5S and housekeeping',
      '5s housekeeping audit',
      'Do a weekly 5S walk of each zone: sort, set in order, shine, standardise, sustain. Score each zone and fix the worst item before the next walk.',
    ),
    entry(
      'ops-20',
      'Performance conversations',
      'coaching performance operator feedback',
      'Use the data: compare an operator’s rate and accuracy with the standard over two weeks, ask what gets in their way, and agree one concrete change. Praise good performance in public.',
    ),
    entry(
      'ops-21',
      'Daily KPI review',
      'kpi daily review dashboard',
      'Each morning review on-time shipping, order accuracy, units per hour, backlog and safety incidents from the previous day. Pick one metric that missed and assign an action with an owner.',
    ),
  ],
};

export const DEFAULT_AGENTS: readonly SeedAgent[] = [PICKING_ASSISTANT, INVENTORY_ASSISTANT, OPERATIONS_ASSISTANT];
